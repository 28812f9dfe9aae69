/**
 * Pull requests through Octokit (the `octokit` package: REST methods plus its retry and
 * throttling plugins), against api.github.com or GITHUB_API_URL (GitHub Enterprise).
 *
 * Idempotent by branch: the PR for `nightshift/<date>/<task>` is looked up by head before
 * anything is created, and a create that GitHub answers "already exists" (a retried POST
 * whose first answer was lost) is resolved by looking it up again. One task, one PR.
 */
import type { Octokit } from 'octokit';
import { PullRequestFailed } from '../../../common/errors';
import type { NightshiftConfig } from '../../../common/config';
import { FAILING_CHECKS_LABEL } from './pr-body';

export type GitHubClient = Octokit;

export interface GitHubRepo {
  owner: string;
  name: string;
}

/**
 * The GitHub repository a task's PR goes to: `pull_request.repo` when set (needed for a
 * local remote, e.g. in tests), else parsed from a github.com URL, or from a URL on the
 * host of GITHUB_API_URL (GitHub Enterprise). Undefined: the remote is not on GitHub.
 */
export function githubRepoOf(
  repo: string | undefined,
  setting: string | undefined,
  apiUrl?: string,
): GitHubRepo | undefined {
  const split = (s: string) => {
    const [owner, name] = s.replace(/\.git$/, '').split('/');
    return owner && name ? { owner, name } : undefined;
  };
  if (setting) return split(setting);
  if (!repo) return undefined;
  const hosts = new Set(['github.com']);
  if (apiUrl) hosts.add(new URL(apiUrl).hostname.replace(/^api\./, ''));
  const m = /^(?:https?:\/\/(?:[^@/]+@)?|ssh:\/\/[^@/]+@|[^@/\s]+@)([^/:]+)(?::\d+)?[/:]([^/]+\/[^/]+?)\/?$/.exec(repo);
  return m && hosts.has(m[1]) ? split(m[2]) : undefined;
}

export interface GitHubClientOptions {
  /** Retries of one request inside the activity (the activity's own retry policy owns the rest). @default 2 */
  retries?: number;
  /** Unit of Octokit's backoff and retry-after waits, in ms. @default 1000 (tests make it smaller) */
  retryBaseMs?: number;
}

/** Octokit is ESM-only; a dynamic import loads it from this CommonJS code. */
export async function createGitHubClient(
  github: NightshiftConfig['github'],
  o: GitHubClientOptions = {},
): Promise<GitHubClient> {
  const { Octokit } = await import('octokit');
  const retries = o.retries ?? 2;
  const retryLimited = (_after: number, options: { request: { retryCount: number } }) =>
    options.request.retryCount < retries;
  return new Octokit({
    auth: github.token,
    baseUrl: (github.apiUrl ?? 'https://api.github.com').replace(/\/+$/, ''),
    userAgent: 'nightshift',
    // Not `request.retries`: the retry plugin would then retry every error, 422 included.
    retry: { retries, retryAfterBaseValue: o.retryBaseMs ?? 1000 },
    throttle: {
      onRateLimit: retryLimited,
      onSecondaryRateLimit: retryLimited,
      retryAfterBaseValue: o.retryBaseMs ?? 1000,
    },
    log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
  });
}

export interface EnsurePrInput {
  repo: GitHubRepo;
  branch: string;
  /** Base branches in order of preference; the first that exists on GitHub wins, else the default branch. */
  baseCandidates: string[];
  title: string;
  body: string;
  draft: boolean;
  labels: string[];
  reviewers: string[];
  /** Whether the checks failed: adds FAILING_CHECKS_LABEL, or removes it once they pass. */
  checksFailing: boolean;
}

export interface PullRequestRef {
  url: string;
  number: number;
  draft: boolean;
  base: string;
  /** Reviewers GitHub would not add (not collaborators, or the author), for the report. */
  notes: string[];
}

const status = (err: unknown) => (err as { status?: number }).status;

/** The fields of a GitHub pull request this code reads. */
interface PullLike {
  number: number;
  state: string;
  html_url: string;
  draft?: boolean;
  merged_at: string | null;
  labels?: (string | { name?: string })[];
}

async function pickBase(gh: GitHubClient, repo: GitHubRepo, candidates: string[]): Promise<string> {
  for (const b of candidates) {
    try {
      await gh.rest.git.getRef({ owner: repo.owner, repo: repo.name, ref: `heads/${b}` });
      return b;
    } catch (err) {
      if (status(err) !== 404) throw err;
    }
  }
  return (await gh.rest.repos.get({ owner: repo.owner, repo: repo.name })).data.default_branch;
}

async function findByHead(gh: GitHubClient, repo: GitHubRepo, branch: string): Promise<PullLike | undefined> {
  const data = (
    await gh.rest.pulls.list({
      owner: repo.owner,
      repo: repo.name,
      head: `${repo.owner}:${branch}`,
      state: 'all',
      per_page: 10,
    })
  ).data as PullLike[];
  // Prefer an open PR; a merged one stays as it is.
  return data.find((p) => p.state === 'open') ?? data[0];
}

export async function ensurePullRequest(gh: GitHubClient, i: EnsurePrInput): Promise<PullRequestRef> {
  const { owner, name } = i.repo;
  const base = await pickBase(gh, i.repo, i.baseCandidates);
  let pr: PullLike | undefined = await findByHead(gh, i.repo, i.branch);
  if (!pr) {
    try {
      const { data } = await gh.rest.pulls.create({
        owner,
        repo: name,
        head: i.branch,
        base,
        title: i.title,
        body: i.body,
        draft: i.draft,
      });
      pr = data as PullLike;
    } catch (err) {
      // 422 "A pull request already exists": an earlier attempt created it and its answer was lost.
      if (status(err) !== 422) throw err;
      pr = await findByHead(gh, i.repo, i.branch);
      if (!pr) throw new PullRequestFailed(`GitHub refused to open the PR for ${i.branch}: ${(err as Error).message}`);
    }
  }
  const merged = Boolean(pr!.merged_at);
  if (!merged) {
    const reopen = pr!.state === 'closed';
    const { data } = await gh.rest.pulls.update({
      owner,
      repo: name,
      pull_number: pr!.number,
      title: i.title,
      body: i.body,
      base,
      ...(reopen ? { state: 'open' as const } : {}),
    });
    pr = data as PullLike;
  }
  const labels = [...i.labels, ...(i.checksFailing ? [FAILING_CHECKS_LABEL] : [])];
  if (labels.length) await gh.rest.issues.addLabels({ owner, repo: name, issue_number: pr!.number, labels });
  if (!i.checksFailing && pr!.labels?.some((l) => (typeof l === 'string' ? l : l.name) === FAILING_CHECKS_LABEL)) {
    await gh.rest.issues
      .removeLabel({ owner, repo: name, issue_number: pr!.number, name: FAILING_CHECKS_LABEL })
      .catch((err: unknown) => {
        if (status(err) !== 404) throw err;
      });
  }
  const notes: string[] = [];
  if (i.reviewers.length) {
    try {
      await gh.rest.pulls.requestReviewers({ owner, repo: name, pull_number: pr!.number, reviewers: i.reviewers });
    } catch (err) {
      // A reviewer who is not a collaborator (or is the author) is a note, not a lost PR.
      if (status(err) !== 422) throw err;
      notes.push(`reviewers not requested (${i.reviewers.join(', ')}): ${(err as Error).message}`);
    }
  }
  return { url: pr!.html_url, number: pr!.number, draft: Boolean(pr!.draft), base, notes };
}
