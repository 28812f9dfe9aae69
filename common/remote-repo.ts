/**
 * Whether a task's `context.repo` is a remote address, decided the way git decides it
 * (connect.c, url_is_local_not_ssh): a URL with a scheme, or an scp-like `[user@]host:path`
 * whose first colon comes before any slash, is remote; anything else is a local path, even
 * when it holds an `@` (`/srv/repos/team@2026/app`). Pure; workflow code imports it.
 */
export function isRemoteRepo(repo: string): boolean {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(repo)) return true;
  const colon = repo.indexOf(':');
  const slash = repo.indexOf('/');
  return colon > 0 && (slash < 0 || colon < slash);
}

/**
 * Whether a task's delivery is on GitHub: it names `pull_request.repo`, or its repo is
 * remote. Its pull request needs GITHUB_TOKEN, and so does a push to an https remote.
 */
export function deliversToGitHub(task: { repo?: string; pullRequest?: { repo?: string } }): boolean {
  return Boolean(task.pullRequest?.repo) || (task.repo !== undefined && isRemoteRepo(task.repo));
}
