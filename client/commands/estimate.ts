/** `nightshift estimate FILE`: predicted cost and duration per task and for the night. */
import type { NightshiftConfig } from '../../common/config';
import { estimateNight, loadHistory, type NightEstimate } from '../../activities/planning/estimate';
import { loadBatchSpec } from '../../spec/load';
import { table, usd } from '../format';

export async function estimateCommand(config: NightshiftConfig, file: string): Promise<NightEstimate> {
  const spec = await loadBatchSpec(file, config.root);
  return estimateNight(spec, await loadHistory(config.root));
}

const basis = (n: number) => (n === 0 ? 'prior' : `prior + ${n}`);

export function renderEstimate(e: NightEstimate): string {
  const rows = e.tasks.map((t) => [
    t.id,
    t.model,
    t.complexity,
    usd(t.costUsd) + (t.overTaskCap ? ' (over its max_cost_usd)' : ''),
    `${t.hours}h`,
    `cost: ${basis(t.costSamples)}, time: ${basis(t.hoursSamples)}`,
  ]);
  return [
    table(['TASK', 'MODEL', 'COMPLEXITY', 'COST', 'TIME', 'BASIS'], rows),
    '',
    `night: ${usd(e.costUsd)} of ${usd(e.budgetUsd)} max_cost_usd — ${e.fits ? 'fits' : 'does NOT fit'}; about ${e.hours}h wall-clock`,
    `history: ${e.historyTasks} finished agent tasks in results/*.json (prior: seed 001's hours, low 1h / medium 2.5h / high 4h)`,
  ].join('\n');
}
