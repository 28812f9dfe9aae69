/** Where a task's `context.repo` lives: remote addresses as git takes them, local paths on this host. */
import * as path from 'node:path';
import { isRemoteRepo } from './remote-repo';

export { isRemoteRepo };

/** The repo as git should be given it: remote addresses as written, local paths resolved against `root`. */
export function repoLocation(root: string, repo: string): string {
  return isRemoteRepo(repo) ? repo : path.resolve(root, repo);
}
