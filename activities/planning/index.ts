/** The planning activity: decomposition inside a workflow (start --decompose, improve). */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type Anthropic from '@anthropic-ai/sdk';
import { Context } from '@temporalio/activity';
import type { NightshiftConfig } from '../../common/config';
import { SpecError } from '../../common/errors';
import type { StateStore } from '../../common/store';
import { storeValidatedSpec } from '../spec';
import { withHeartbeats } from '../heartbeat';
import { createImproveActivities } from './improve';
import { decomposeGoalResult, makePlan, type DecomposeGoalResult, type PlanRequest } from './plan';

export type { DecomposeGoalResult } from './plan';

/** The plan a decomposeGoal key made, in a shared store. */
const DECOMPOSED = 'decomposed.json';

export function createPlanningActivities(deps: { config: Pick<NightshiftConfig, 'root'>; anthropic: Anthropic | undefined; store?: StateStore }) {
  // The file store is this host's disk, where the task file itself already is.
  const shared = deps.store && !deps.store.hostLocal ? deps.store : undefined;
  return withHeartbeats({
    ...createImproveActivities(deps),
    /**
     * Plans `input` into a task file. Idempotent by `input.key` (the workflow ID): a retry
     * after the file was written reuses it rather than paying for another plan. With a
     * shared store and a `batchId`, the night is stored there too (`storedSpec`), so the
     * batch runs it on whichever host takes it, and a retry on another host finds the plan.
     */
    async decomposeGoal(input: PlanRequest & { prdFile?: string; batchId?: string }): Promise<DecomposeGoalResult> {
      const { prdFile, batchId, ...req } = input;
      const kept = shared && req.key ? await shared.get('plans', req.key, DECOMPOSED) : undefined;
      if (kept) return JSON.parse(kept) as DecomposeGoalResult;
      if (prdFile) req.document = { name: prdFile, text: await readInRoot(deps.config.root, prdFile) };
      const r = await makePlan(deps.config.root, deps.anthropic, req, { signal: Context.current().cancellationSignal });
      const result = decomposeGoalResult(r);
      if (!shared || !req.key) return result;
      const planned: DecomposeGoalResult = { ...result, ...(batchId ? { storedSpec: await storeValidatedSpec(shared, batchId, r.spec, deps.config.root) } : {}) };
      // Of two attempts that both planned, the first record stands and both return it.
      if (await shared.putIfAbsent('plans', req.key, DECOMPOSED, JSON.stringify(planned))) return planned;
      return JSON.parse((await shared.get('plans', req.key, DECOMPOSED))!) as DecomposeGoalResult;
    },
  }, ['decomposeGoal', 'planFromFindings']);
}

/** A document named by a workflow input, read only from inside NIGHTSHIFT_ROOT. */
export async function readInRoot(root: string, rel: string): Promise<string> {
  const abs = path.resolve(root, rel);
  if (abs !== root && !abs.startsWith(path.resolve(root) + path.sep)) throw new SpecError([{ file: rel, path: '', message: 'must be inside NIGHTSHIFT_ROOT' }]);
  try {
    return await fs.readFile(abs, 'utf8');
  } catch {
    throw new SpecError([{ file: rel, path: '', message: 'no such file' }]);
  }
}
