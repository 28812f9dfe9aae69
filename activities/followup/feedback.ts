/**
 * What reviewers and CI said on the pull requests nightshift opened, read through Octokit:
 * requested-changes reviews, review comments, conversation comments, and failing check
 * runs on each PR's current head. Every list is read to its last page.
 *
 * All of it is written by other people or systems and reaches the agent's prompt: it is
 * hostile input, kept as data here and quoted where it is rendered (followup/tasks.ts).
 */
import type { GitHubClient, GitHubRepo } from '../task/delivery/pull-request';
import { NIGHTSHIFT_BRANCH_PREFIX } from '../../workflows/branches';

/** Opens every comment nightshift writes on a PR, so a later follow-up never reads its own words as feedback. */
export const FOLLOW_UP_MARKER = '<!-- nightshift-followup';

export type FeedbackKind = 'review' | 'review-comment' | 'comment' | 'check-run';

export interface FeedbackItem {
  kind: FeedbackKind;
  /** GitHub's ID of the review, comment or check run: what is recorded once it is handled. */
  id: number;
  /**
   * Whether it asks for work on its own. A conversation comment does not (an "LGTM" would
   * start a task); it is passed along with the review or check that does.
   */
  asksForWork: boolean;
  author?: string;
  at?: string;
  body: string;
  /** Review comments: the file and line they are on. */
  path?: string;
  line?: number | null;
  /** Check runs: their name and conclusion. */
  name?: string;
  conclusion?: string;
  url?: string;
}

export interface PullFeedback {
  repo: GitHubRepo;
  number: number;
  url: string;
  title: string;
  branch: string;
  headSha: string;
  items: FeedbackItem[];
}

/** Conclusions that mean the check found a problem in the code (cancelled and action_required wait on people). */
const FAILING = new Set(['failure', 'timed_out']);

const after = (at: string | null | undefined, since: Date | undefined) =>
  !since || (at !== undefined && at !== null && Date.parse(at) >= since.getTime());
const ours = (body: string | null | undefined) => (body ?? '').includes(FOLLOW_UP_MARKER);

interface UserLike {
  login?: string;
}
interface ReviewLike {
  id: number;
  state: string;
  body: string | null;
  submitted_at?: string | null;
  user?: UserLike | null;
}
interface ReviewCommentLike {
  id: number;
  body: string;
  path: string;
  line?: number | null;
  original_line?: number | null;
  created_at: string;
  user?: UserLike | null;
}
interface IssueCommentLike {
  id: number;
  body?: string | null;
  created_at: string;
  user?: UserLike | null;
}
interface CheckRunLike {
  id: number;
  name: string;
  status: string;
  conclusion: string | null;
  completed_at?: string | null;
  html_url?: string | null;
  output?: { title?: string | null; summary?: string | null; text?: string | null };
}

interface PullLike {
  number: number;
  html_url: string;
  title: string;
  head: { ref: string; sha: string };
}

/** The open PRs on nightshift's branches in `repo`, each with the feedback given since `since` (failing checks: on its head now). */
export async function readPullFeedback(
  gh: GitHubClient,
  repo: GitHubRepo,
  o: { since?: Date } = {},
): Promise<PullFeedback[]> {
  const base = { owner: repo.owner, repo: repo.name, per_page: 100 };
  const pulls = (await gh.paginate(gh.rest.pulls.list, { ...base, state: 'open' })) as PullLike[];
  const out: PullFeedback[] = [];
  for (const pr of pulls.filter((p) => p.head.ref.startsWith(NIGHTSHIFT_BRANCH_PREFIX))) {
    const n = { ...base, pull_number: pr.number };
    const reviews = (await gh.paginate(gh.rest.pulls.listReviews, n)) as ReviewLike[];
    const reviewComments = (await gh.paginate(gh.rest.pulls.listReviewComments, n)) as ReviewCommentLike[];
    const comments = (await gh.paginate(gh.rest.issues.listComments, {
      ...base,
      issue_number: pr.number,
    })) as IssueCommentLike[];
    const checks = (await gh.paginate(gh.rest.checks.listForRef, { ...base, ref: pr.head.sha })) as CheckRunLike[];
    const items: FeedbackItem[] = [
      ...reviews
        .filter((r) => r.state === 'CHANGES_REQUESTED' && after(r.submitted_at, o.since) && !ours(r.body))
        .map((r): FeedbackItem => ({
          kind: 'review',
          id: r.id,
          asksForWork: true,
          author: r.user?.login,
          at: r.submitted_at ?? undefined,
          body: r.body ?? '',
        })),
      ...reviewComments
        .filter((c) => after(c.created_at, o.since) && !ours(c.body))
        .map((c): FeedbackItem => ({
          kind: 'review-comment',
          id: c.id,
          asksForWork: true,
          author: c.user?.login,
          at: c.created_at,
          body: c.body,
          path: c.path,
          line: c.line ?? c.original_line ?? null,
        })),
      ...comments
        .filter((c) => after(c.created_at, o.since) && !ours(c.body))
        .map((c): FeedbackItem => ({
          kind: 'comment',
          id: c.id,
          asksForWork: false,
          author: c.user?.login,
          at: c.created_at,
          body: c.body ?? '',
        })),
      ...checks
        .filter((c) => c.status === 'completed' && c.conclusion !== null && FAILING.has(c.conclusion))
        .map((c): FeedbackItem => ({
          kind: 'check-run',
          id: c.id,
          asksForWork: true,
          name: c.name,
          conclusion: c.conclusion ?? undefined,
          at: c.completed_at ?? undefined,
          url: c.html_url ?? undefined,
          body: [c.output?.title, c.output?.summary, c.output?.text].filter(Boolean).join('\n\n'),
        })),
    ];
    if (items.length)
      out.push({
        repo,
        number: pr.number,
        url: pr.html_url,
        title: pr.title,
        branch: pr.head.ref,
        headSha: pr.head.sha,
        items,
      });
  }
  return out;
}
