/**
 * `parallel` / `max_workers`: the copies of one task expanded over many repos
 * run at most `maxWorkers` at a time, inside the batch's own `max_concurrent_agents`.
 * Pure, deterministic.
 */
import type { TaskSpec } from '../../taskfile/types';

/** True when `task` is one of a fan-out whose running copies already fill its limit. */
export function fanOutFull(
  task: Pick<TaskSpec, 'fanOut'>,
  running: ReadonlySet<string>,
  tasks: ReadonlyMap<string, Pick<TaskSpec, 'fanOut'>>,
): boolean {
  const group = task.fanOut;
  if (!group) return false;
  let n = 0;
  for (const id of running) if (tasks.get(id)?.fanOut?.of === group.of) n++;
  return n >= group.maxWorkers;
}
