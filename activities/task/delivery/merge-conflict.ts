/**
 * `on_merge_conflict: agent`: a conflicting merge of dependencies' branches is left in
 * progress in the workspace for the agent to resolve by editing files. The agent never
 * runs git (the policy forbids `git add`, `git merge --continue` and `git commit`, and the
 * workspace `.git` is read-only in the sandbox); the orchestrator's delivery commit
 * records the merge (its parents are HEAD and MERGE_HEAD: see activities/task/delivery/sandbox-commit.ts).
 *
 * The conflict is recorded in the transcript store, keyed by workflow ID, so the first
 * message can name it and the marker check after `finish` still knows the files after a
 * continue-as-new or a rebuilt sandbox.
 */
import { isNotFound } from '../tools/context';
import type { Sandbox } from '../../../sandbox/types';
import { getJson, type TranscriptStore } from '../transcripts';

export const MERGE_CONFLICT_KEY = 'merge-conflict.json';

/** A dependency's branch whose merge was left to the agent. */
export interface LeftConflict {
  taskId: string;
  branch: string;
  commit: string;
  /** The dependencies already merged into HEAD. */
  into: string[];
  /** Files git could not merge. */
  files: string[];
}

/** Lines git writes around a conflict (`=======` alone is left out: it is ordinary text in many files). */
const MARKER = /^(<{7}|>{7}|\|{7})(\s|$)/m;

export const readConflict = (store: TranscriptStore, workflowId: string) =>
  getJson<LeftConflict>(store, workflowId, MERGE_CONFLICT_KEY);

/** The clearly marked part of the agent's first message. */
export function conflictSection(c: LeftConflict): string {
  return [
    '',
    '',
    '## Merge conflict: resolve it first',
    '',
    `This task builds on several dependencies. Merging the branch of ${c.taskId} (${c.branch}) into the work of ${c.into.join(', ')} conflicts, and the merge is left in progress in your workspace.`,
    `These files hold conflict markers (<<<<<<<, =======, >>>>>>>): ${c.files.join(', ')}.`,
    'Resolve each by editing the file so that it keeps what both sides meant and no marker line is left; `git diff` shows both sides. Do not run `git add`, `git commit` or `git merge --continue`: git writes are not allowed, and the orchestrator records the merge when you finish. Then do the task itself. If a conflict marker is still in one of these files when you call finish, the task fails.',
  ].join('\n');
}

/** The files of `c` that still hold a conflict marker (a deleted file has none). */
export async function filesWithMarkers(sandbox: Sandbox, files: string[]): Promise<string[]> {
  const decoder = new TextDecoder('utf-8');
  const left: string[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = decoder.decode(await sandbox.readFile(f));
    } catch (err) {
      // Deleted: no marker. Too large or no regular file: not shown to be resolved.
      if (!isNotFound(err)) left.push(f);
      continue;
    }
    if (MARKER.test(text)) left.push(f);
  }
  return left;
}
