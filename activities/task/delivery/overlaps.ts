/**
 * Tasks run side by side that changed the same files: their branches will likely conflict
 * when merged, so the morning report flags them.
 */
import type { TaskResult } from '../../../contract';

export interface Overlap {
  tasks: [string, string];
  files: string[];
}

type Timed = Pick<TaskResult, 'taskId' | 'startedAt' | 'endedAt' | 'filesChanged'>;

export function findOverlaps(tasks: Timed[]): Overlap[] {
  const out: Overlap[] = [];
  for (let i = 0; i < tasks.length; i++) {
    for (let j = i + 1; j < tasks.length; j++) {
      const a = tasks[i];
      const b = tasks[j];
      if (!a.filesChanged?.length || !b.filesChanged?.length || !a.startedAt || !b.startedAt) continue;
      // Side by side: each started before the other ended.
      const sideBySide = a.startedAt < (b.endedAt ?? Infinity) && b.startedAt < (a.endedAt ?? Infinity);
      if (!sideBySide) continue;
      const theirs = new Set(b.filesChanged);
      const files = a.filesChanged.filter((f) => theirs.has(f));
      if (files.length) out.push({ tasks: [a.taskId, b.taskId], files });
    }
  }
  return out;
}
