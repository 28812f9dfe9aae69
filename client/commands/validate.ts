/** `nightshift validate FILE`: every problem at once, or the plan it would run. */
import type { NightshiftConfig } from '../../common/config';
import { SpecError, type SpecIssue } from '../../common/errors';
import { openStateStore } from '../../common/store';
import { resolveModel } from '../../common/models';
import { loadBatchSpec } from '../../taskfile/load';
import { preflight } from '../../taskfile/preflight';
import type { BatchSpec } from '../../taskfile/types';
import { waves } from '../../workflows/night/dag';
import { table, usd } from '../format';

/**
 * The batch, after the checks that need this host (repositories, context files, skills):
 * what cannot work is a SpecError like any other problem; what is odd comes back as warnings.
 */
export async function validateFile(
  config: NightshiftConfig,
  file: string,
): Promise<{ spec: BatchSpec; warnings: SpecIssue[] }> {
  const spec = await loadBatchSpec(file, config.root);
  // Learned skills are in the store every worker reads, not necessarily on this disk.
  const store = await openStateStore(config);
  const { errors, warnings } = await preflight(spec, config.root, store).finally(() => store.close());
  if (errors.length) throw new SpecError(errors);
  return { spec, warnings };
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
    table(['PHASE', 'TASK', 'RUNS', 'DEPENDS ON', 'TITLE'], rows, { fit: ['TITLE'] }),
  ].join('\n');
}
