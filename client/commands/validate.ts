/** `nightshift validate FILE`: every problem at once, or the plan it would run. */
import type { NightshiftConfig } from '../../common/config';
import { resolveModel } from '../../common/models';
import { loadBatchSpec } from '../../spec/load';
import type { BatchSpec } from '../../spec/types';
import { waves } from '../../workflows/dag';
import { table, usd } from '../format';

export async function validateFile(config: NightshiftConfig, file: string): Promise<BatchSpec> {
  return loadBatchSpec(file, config.root);
}

export function describePlan(spec: BatchSpec): string {
  const phases = waves(spec.tasks);
  const byId = new Map(spec.tasks.map((t) => [t.id, t]));
  const rows = phases.flatMap((wave, i) =>
    wave.map((id) => {
      const t = byId.get(id)!;
      const kind = t.command !== undefined ? 'command' : resolveModel(t.model, t.complexity);
      return [String(i + 1), id, kind, t.dependsOn.join(', ') || '-', t.title];
    }),
  );
  return [
    `${spec.source}: ${spec.tasks.length} task${spec.tasks.length === 1 ? '' : 's'} in ${phases.length} phase${phases.length === 1 ? '' : 's'}; ` +
      `budget ${usd(spec.maxCostUsd)}, at most ${spec.maxConcurrentAgents} at once, sandbox ${spec.sandbox.provider}`,
    '',
    table(['PHASE', 'TASK', 'RUNS', 'DEPENDS ON', 'TITLE'], rows),
  ].join('\n');
}
