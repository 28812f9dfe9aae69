/** The planning activity: decomposition inside a workflow (start --decompose, improve). */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type Anthropic from '@anthropic-ai/sdk';
import { Context } from '@temporalio/activity';
import type { NightshiftConfig } from '../../common/config';
import { SpecError } from '../../common/errors';
import type { StateStore } from '../../common/store';
import { withHeartbeats } from '../heartbeat';
import { createImproveActivities } from './improve';
import { makePlan, type DecomposeGoalResult, type PlanRequest } from './plan';
import { planOnce } from './plan-once';

export type { DecomposeGoalResult } from './plan';

export function createPlanningActivities(deps: {
  config: Pick<NightshiftConfig, 'root'>;
  anthropic: Anthropic | undefined;
  store: StateStore;
}) {
  // The file store is this host's disk, where the task file itself already is.
  const shared = deps.store.hostLocal ? undefined : deps.store;
  return withHeartbeats(
    {
      ...createImproveActivities({ ...deps, shared }),
      /**
       * Plans `input` into a task file. Idempotent by `input.key` (the workflow ID): a retry
       * after the file was written reuses it rather than paying for another plan. With a
       * shared store and a `batchId`, the night is stored there too (`storedSpec`), so the
       * batch runs it on whichever host takes it, and a retry on another host finds the plan.
       */
      async decomposeGoal(input: PlanRequest & { prdFile?: string; batchId?: string }): Promise<DecomposeGoalResult> {
        const { prdFile, batchId, ...req } = input;
        return planOnce({ shared, key: req.key, batchId, root: deps.config.root }, async () => {
          if (prdFile) req.document = { name: prdFile, text: await readInRoot(deps.config.root, prdFile) };
          return makePlan(deps.config.root, deps.anthropic, req, { signal: Context.current().cancellationSignal });
        });
      },
    },
    ['decomposeGoal', 'planFromFindings'],
  );
}

/** A document named by a workflow input, read only from inside NIGHTSHIFT_ROOT. */
export async function readInRoot(root: string, rel: string): Promise<string> {
  const abs = path.resolve(root, rel);
  if (abs !== root && !abs.startsWith(path.resolve(root) + path.sep))
    throw new SpecError([{ file: rel, path: '', message: 'must be inside NIGHTSHIFT_ROOT' }]);
  try {
    return await fs.readFile(abs, 'utf8');
  } catch {
    throw new SpecError([{ file: rel, path: '', message: 'no such file' }]);
  }
}
