/** Loading and validating the night's task file happens here, outside the workflow sandbox. */
import { SpecError } from '../common/errors';
import { EFFORT_FOR_COMPLEXITY, resolveModel } from '../common/models';
import type { NightshiftConfig } from '../common/config';
import { loadBatchSpec, parseBatchSpecIn } from '../spec/load';
import { normalizeBatch } from '../spec/normalize';
import { claimPendingFiles, settleClaimedFiles } from './folders';
import type { BatchSpec } from '../spec/types';

/** The daily cap is the operator's (environment) and the file's together: the lower one holds. */
function withDailyCap(spec: BatchSpec, envCap: number | undefined): BatchSpec {
  const caps = [spec.dailyMaxCostUsd, envCap].filter((c): c is number => c !== undefined);
  return caps.length ? { ...spec, dailyMaxCostUsd: Math.min(...caps) } : spec;
}

/**
 * Agent tasks get the model ID their alias or complexity names here (and the effort their
 * complexity calls for, unless they set one), where the worker's
 * NIGHTSHIFT_MODELS_FILE is in force; the workflow sandbox only knows the shipped aliases.
 */
function withModelIds(spec: BatchSpec): BatchSpec {
  return { ...spec, tasks: spec.tasks.map((t) => (t.command !== undefined ? t : { ...t, model: resolveModel(t.model, t.complexity), effort: t.effort ?? EFFORT_FOR_COMPLEXITY[t.complexity ?? 'medium'] })) };
}

export function createSpecActivities(config: Pick<NightshiftConfig, 'root' | 'dailyMaxCostUsd'>) {
  /** A scheduled folder night: the files it took, as one batch; none is an empty night, not a failure. */
  async function loadClaimed(pendingDir: string, night: string): Promise<BatchSpec> {
    const claim = await claimPendingFiles(config.root, pendingDir, night);
    if (claim.files.length === 0) return { ...normalizeBatch(pendingDir, {}, [], [], []), tasks: [] };
    try {
      const spec = await loadBatchSpec(claim.dir, config.root, { knownTaskIds: claim.completedIds });
      // A dependency done on an earlier night (its file in completed/) is met.
      const here = new Set(spec.tasks.map((t) => t.id));
      return { ...spec, source: pendingDir, tasks: spec.tasks.map((t) => ({ ...t, dependsOn: t.dependsOn.filter((d) => here.has(d)) })) };
    } catch (err) {
      // Nothing ran: the files go back where the person put them, to be fixed.
      if (err instanceof SpecError) await settleClaimedFiles(config.root, pendingDir, night, []);
      throw err;
    }
  }

  return {
    /**
     * Reads `tasksFile` (relative to NIGHTSHIFT_ROOT) or validates an inline `spec`. With
     * `claimAs`, `tasksFile` is a pending/ folder whose files the night takes first.
     */
    async loadBatchSpec(input: { tasksFile?: string; spec?: unknown; claimAs?: string }): Promise<BatchSpec> {
      if ((input.tasksFile === undefined) === (input.spec === undefined)) {
        throw new SpecError([{ file: 'workflow input', path: '', message: 'give exactly one of "tasksFile" and "spec"' }]);
      }
      const spec =
        input.tasksFile !== undefined && input.claimAs !== undefined
          ? await loadClaimed(input.tasksFile, input.claimAs)
          : input.tasksFile !== undefined
            ? await loadBatchSpec(input.tasksFile, config.root)
            : await parseBatchSpecIn(input.spec, config.root);
      return withDailyCap(withModelIds(spec), config.dailyMaxCostUsd);
    },
  };
}
