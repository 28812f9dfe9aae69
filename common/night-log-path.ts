/**
 * Where a night's `log_file` is written, or why it cannot be. The
 * path comes from the task file; the lines come from agents. Neither may put the log where
 * agents' files and the worker's state live (`.nightshift/` under the root: workspaces,
 * transcripts, delivery repositories), and `~user` forms are not guessed at.
 */
import * as path from 'node:path';

/** A night's log stops growing here; the last line says so. */
export const NIGHT_LOG_MAX_BYTES = 10 * 1024 * 1024;

/** `raw` as an absolute path: `~/…` under `home`, a relative path under `root`. */
export function nightLogPath(raw: string, o: { root: string; home: string }): { path: string } | { error: string } {
  if (raw.includes('\0')) return { error: 'log_file holds a NUL character' };
  let resolved: string;
  if (raw === '~' || raw.endsWith('/')) return { error: `log_file ${raw} names a directory, not a file` };
  if (raw.startsWith('~/')) resolved = path.join(o.home, raw.slice(2));
  else if (raw.startsWith('~')) return { error: `log_file ${raw}: only ~/ is expanded; write the path out` };
  else resolved = path.resolve(o.root, raw);
  const state = path.join(path.resolve(o.root), '.nightshift');
  if (resolved === state || resolved.startsWith(state + path.sep))
    return {
      error: `log_file ${raw} is inside ${state}, where the agents' workspaces and the worker's state are; put it elsewhere`,
    };
  return { path: resolved };
}
