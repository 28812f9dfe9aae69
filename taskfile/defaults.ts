/**
 * What a task file's unset settings become: the one home of these values. The loader
 * (taskfile/normalize.ts) fills them into every task it builds; workflows read the same constants
 * where a task may lack a field, so this module stays free of I/O and Node built-ins.
 *
 * Why workflows still fill some of them: a task's spec travels in its workflow's history,
 * and tasks started before a field existed (or built outside the loader: the intake,
 * improvement loops, tests) carry it unset. Those fields stay optional in TaskSpec, and a
 * workflow reads them through taskSetting() below rather than writing the default again.
 */
import type { TaskSpec } from './types';

export const DEFAULTS = {
  maxCostUsd: 50,
  maxConcurrentAgents: 3,
  questionTimeoutMs: 8 * 3_600_000,
  maxTurns: 100,
  taskTimeoutMs: 4 * 3_600_000,
  priority: 5,
  onQuestionTimeout: 'continue',
  fixAttempts: 2,
  maxPrsPerRepo: 5,
  onMergeConflict: 'fail',
} as const;

type FilledByWorkflows = 'fixAttempts' | 'questionTimeoutMs' | 'onQuestionTimeout';

/** A task's setting, or the loader's default when the task predates it or skipped the loader. */
export function taskSetting<K extends FilledByWorkflows>(task: Pick<TaskSpec, K>, key: K): NonNullable<TaskSpec[K]> {
  return (task[key] ?? DEFAULTS[key]) as NonNullable<TaskSpec[K]>;
}
