/** `nightshift estimate FILE`: predicted cost and duration per task and for the night. */
import type { NightshiftConfig } from '../../common/config';
import { estimateNight, loadHistory, type NightEstimate } from '../../activities/planning/estimate';
import { loadBatchSpec } from '../../taskfile/load';
import { table, usd } from '../format';

export async function estimateCommand(config: NightshiftConfig, file: string): Promise<NightEstimate> {
  const spec = await loadBatchSpec(file, config.root);
  return estimateNight(spec, await loadHistory(config.root));
}

/** Cents hide a simple-mode task's cost, which is often a fraction of one. */
const cost = (n: number) => (n > 0 && n < 0.01 ? `$${n.toFixed(4)}` : usd(n));

const basis = (n: number) => (n === 0 ? 'prior' : `prior + ${n}`);

export function renderEstimate(e: NightEstimate): string {
  const rows = e.tasks.map((t) => [
    t.id,
    t.batch ? `${t.model} (batch)` : t.model,
    t.complexity,
    cost(t.costUsd) + (t.overTaskCap ? ' (over its max_cost_usd)' : ''),
    `${t.hours}h`,
    `cost: ${basis(t.costSamples)}, time: ${basis(t.hoursSamples)}`,
  ]);
  return [
    table(['TASK', 'MODEL', 'COMPLEXITY', 'COST', 'TIME', 'BASIS'], rows, { fit: ['BASIS'] }),
    '',
    `night: ${usd(e.costUsd)} of ${usd(e.budgetUsd)} max_cost_usd — ${e.fits ? 'fits' : 'does NOT fit'}; about ${e.hours}h wall-clock`,
    `history: ${e.historyTasks} finished agent tasks in results/*.json (prior: default hours, low 1h / medium 2.5h / high 4h)`,
  ].join('\n');
}
