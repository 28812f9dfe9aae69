/**
 * A plan made inside a workflow (start --decompose, an improvement loop), once per key on
 * any host: with a shared state store the plan and its night are recorded there, so a
 * retry on another host reuses them instead of paying for another plan, and the batch
 * that runs them reads the night from the store rather than a task file on the planning
 * host's disk.
 */
import type { StateStore } from '../../common/store';
import { storeValidatedSpec } from '../night/spec';
import { decomposeGoalResult, type DecomposeGoalResult, type PlanResult } from './plan';

/** The plan a key made, in a shared store (scope: the key). */
const DECOMPOSED = 'decomposed.json';

/**
 * `plan()` unless the store already has what the key planned. `shared` is undefined for the
 * `file` store: that is this host's disk, where the task file already is.
 */
export async function planOnce(
  o: { shared: StateStore | undefined; key: string | undefined; batchId?: string; root: string },
  plan: () => Promise<PlanResult>,
): Promise<DecomposeGoalResult> {
  const { shared, key } = o;
  const kept = shared && key ? await shared.get('plans', key, DECOMPOSED) : undefined;
  if (kept) return JSON.parse(kept) as DecomposeGoalResult;
  const r = await plan();
  const result = decomposeGoalResult(r);
  if (!shared || !key) return result;
  const planned: DecomposeGoalResult = {
    ...result,
    ...(o.batchId ? { storedSpec: await storeValidatedSpec(shared, o.batchId, r.spec, o.root) } : {}),
  };
  // Of two attempts that both planned, the first record stands and both return it.
  if (await shared.putIfAbsent('plans', key, DECOMPOSED, JSON.stringify(planned))) return planned;
  return JSON.parse((await shared.get('plans', key, DECOMPOSED))!) as DecomposeGoalResult;
}
