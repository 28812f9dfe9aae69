/** The planning activity: decomposition inside a workflow (start --decompose, improve). */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type Anthropic from '@anthropic-ai/sdk';
import { Context } from '@temporalio/activity';
import type { NightshiftConfig } from '../../common/config';
import { SpecError } from '../../common/errors';
import { withHeartbeats } from '../heartbeat';
import { createImproveActivities } from './improve';
import { decomposeGoalResult, makePlan, type DecomposeGoalResult, type PlanRequest } from './plan';

export type { DecomposeGoalResult } from './plan';

export function createPlanningActivities(deps: { config: Pick<NightshiftConfig, 'root'>; anthropic: Anthropic | undefined }) {
  return withHeartbeats({
    ...createImproveActivities(deps),
    /**
     * Plans `input` into a task file. Idempotent by `input.key` (the workflow ID): a retry
     * after the file was written reuses it rather than paying for another plan.
     */
    async decomposeGoal(input: PlanRequest & { prdFile?: string }): Promise<DecomposeGoalResult> {
      const { prdFile, ...req } = input;
      if (prdFile) req.document = { name: prdFile, text: await readInRoot(deps.config.root, prdFile) };
      const r = await makePlan(deps.config.root, deps.anthropic, req, { signal: Context.current().cancellationSignal });
      return decomposeGoalResult(r);
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
