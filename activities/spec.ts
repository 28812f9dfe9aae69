/** Loading and validating the night's task file happens here, outside the workflow sandbox. */
import { SpecError } from '../common/errors';
import type { NightshiftConfig } from '../common/config';
import { loadBatchSpec, parseBatchSpecIn } from '../spec/load';
import type { BatchSpec } from '../spec/types';

export function createSpecActivities(config: Pick<NightshiftConfig, 'root'>) {
  return {
    /** Reads `tasksFile` (relative to NIGHTSHIFT_ROOT) or validates an inline `spec`. */
    async loadBatchSpec(input: { tasksFile?: string; spec?: unknown }): Promise<BatchSpec> {
      if ((input.tasksFile === undefined) === (input.spec === undefined)) {
        throw new SpecError([{ file: 'workflow input', path: '', message: 'give exactly one of "tasksFile" and "spec"' }]);
      }
      return input.tasksFile !== undefined ? loadBatchSpec(input.tasksFile, config.root) : parseBatchSpecIn(input.spec, config.root);
    },
  };
}
