/** A task's status row for report and rendering tests: a finished task with nothing spent, `extra` on top. */
import type { TaskStatus } from '../../contract';

export function taskStatus(taskId: string, extra: Partial<TaskStatus> = {}): TaskStatus {
  return {
    taskId,
    title: taskId,
    workflowId: `nightshift-2026-11-21/${taskId}`,
    status: 'succeeded',
    costUsd: 0,
    tokens: { input: 0, output: 0, cacheWrite: 0, cacheRead: 0 },
    turns: 0,
    ...extra,
  };
}
