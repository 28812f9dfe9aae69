/**
 * A loopback server speaking the part of GitHub's REST API nightshift uses: repos get, git
 * refs, pulls list / create / update, issue labels, requested reviewers, and what
 * `nightshift followup` reads: reviews, review comments, issue comments (and creating
 * one), check runs for a ref. Lists are paginated as GitHub paginates them (`per_page` up
 * to 100, `page`, a `Link` header with rel="next" and rel="last"). The real Octokit
 * talks to it through GITHUB_API_URL. Branches are read from bare repositories on disk
 * (the remotes the worker really pushed to), so a PR for a branch that was never pushed
 * is refused as GitHub would refuse it.
 *
 * Records every call, and answers with injected faults (5xx, 429 with retry-after, 403
 * with x-ratelimit headers), optionally after doing the real work (an answer lost on the
 * way back), or never (a hang, to kill a worker mid-call).
 */
import { execFileSync } from 'node:child_process';
import * as http from 'node:http';
import { listenOnLoopback } from '../../common/loopback';

export interface FakePull {
  number: number;
  state: 'open' | 'closed';
  draft: boolean;
  title: string;
  body: string;
  head: { ref: string; sha: string };
  base: { ref: string };
  html_url: string;
  merged_at: null;
  labels: { name: string }[];
  requested_reviewers: { login: string }[];
}

export interface FakeUser {
  login: string;
  type?: 'User' | 'Bot';
}

export interface FakeReview {
  id: number;
  user: FakeUser;
  state: 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' | 'DISMISSED' | 'PENDING';
  body: string;
  submitted_at: string;
  commit_id: string;
}

export interface FakeReviewComment {
  id: number;
  pull_request_review_id: number | null;
  user: FakeUser;
  body: string;
  path: string;
  line: number | null;
  diff_hunk: string;
  commit_id: string;
  created_at: string;
  updated_at: string;
}

export interface FakeIssueComment {
  id: number;
  user: FakeUser;
  body: string;
  created_at: string;
  updated_at: string;
}

export interface FakeCheckRun {
  id: number;
  name: string;
  head_sha: string;
  status: 'queued' | 'in_progress' | 'completed';
  conclusion: 'success' | 'failure' | 'neutral' | 'cancelled' | 'skipped' | 'timed_out' | 'action_required' | null;
  started_at: string;
  completed_at: string | null;
  html_url: string;
  output: { title: string | null; summary: string | null; text: string | null };
}

export interface GitHubCall {
  method: string;
  path: string;
  query: Record<string, string>;
  body: Record<string, unknown> | undefined;
  status: number;
}

export interface Fault {
  method: string;
  /** Matched against the path without the query. */
  path: RegExp;
  /** How many matching requests get the fault. @default 1 */
  times?: number;
  status?: number;
  headers?: Record<string, string>;
  message?: string;
  /** Do the real work first, then answer with the fault: the client never learns it succeeded. */
  apply?: boolean;
  /** Never answer (after applying, when `apply`). */
  hang?: boolean;
  /** Called when the fault fires. */
  onHit?: () => void;
}

export interface FakeGitHubOptions {
  /** `owner/name` -> the bare repository holding its branches. */
  repos: Record<string, { bare: string; defaultBranch?: string }>;
  /** The token the client must send. @default 'ghs_test' */
  token?: string;
  /** Path prefix, e.g. `/api/v3` as on GitHub Enterprise. @default '' */
  prefix?: string;
}

export interface FakeGitHub {
  /** For GITHUB_API_URL. */
  url: string;
  calls: GitHubCall[];
  pulls(repo: string): FakePull[];
  /** A review on PR `number` (its commit is the PR's head now), as a reviewer would submit it. */
  addReview(repo: string, number: number, r: Pick<FakeReview, 'state' | 'body'> & { user?: string }): FakeReview;
  /** A comment on a line of the PR's diff. */
  addReviewComment(
    repo: string,
    number: number,
    c: { body: string; path: string; line?: number; user?: string; reviewId?: number },
  ): FakeReviewComment;
  /** A comment in the PR's conversation. */
  addIssueComment(repo: string, number: number, c: { body: string; user?: string }): FakeIssueComment;
  issueComments(repo: string, number: number): FakeIssueComment[];
  /** A check run CI reported for `sha` (default: the head of PR `number`'s branch now). */
  addCheckRun(
    repo: string,
    ref: { sha?: string; pr?: number },
    c: Pick<FakeCheckRun, 'name' | 'conclusion'> & { title?: string; summary?: string; text?: string },
  ): FakeCheckRun;
  fault(f: Fault): void;
  close(): Promise<void>;
}

function branchSha(bare: string, branch: string): string | undefined {
  try {
    return (
      execFileSync('git', ['--git-dir', bare, 'rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`], {
        encoding: 'utf8',
      }).trim() || undefined
    );
  } catch {
    return undefined;
  }
}

type Reply = { status: number; json?: unknown; headers?: Record<string, string> };
const notFound = (): Reply => ({
  status: 404,
  json: { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' },
});
const invalid = (message: string): Reply => ({
  status: 422,
  json: { message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'custom', message }] },
});

export async function startFakeGitHub(o: FakeGitHubOptions): Promise<FakeGitHub> {
  const token = o.token ?? 'ghs_test';
  const prefix = o.prefix ?? '';
  const pulls = new Map<string, FakePull[]>(Object.keys(o.repos).map((r) => [r, []]));
  const faults: (Fault & { left: number })[] = [];
  const calls: GitHubCall[] = [];
  const reviews = new Map<string, FakeReview[]>();
  const reviewComments = new Map<string, FakeReviewComment[]>();
  const issueComments = new Map<string, FakeIssueComment[]>();
  const checkRuns = new Map<string, FakeCheckRun[]>();
  // GitHub's IDs are one sequence per kind across repositories; one sequence here is as good.
  let nextId = 1000;
  /** This server's own origin, for the Link header's absolute URLs (known once it listens). */
  let origin = '';
  const perPr = <T>(m: Map<string, T[]>, repo: string, number: number): T[] => {
    const key = `${repo}#${number}`;
    if (!m.has(key)) m.set(key, []);
    return m.get(key)!;
  };
  const userOf = (login = 'reviewer'): FakeUser => ({ login, type: login.endsWith('[bot]') ? 'Bot' : 'User' });
  const now = () => new Date().toISOString();
  function pullOf(repo: string, number: number): FakePull {
    const pr = pulls.get(repo)?.find((x) => x.number === number);
    if (!pr) throw new Error(`fake GitHub: ${repo} has no PR #${number}`);
    return live(repo, pr);
  }
  /** GitHub moves a PR's head.sha when its branch is pushed to. */
  function live(repo: string, pr: FakePull): FakePull {
    const sha = branchSha(o.repos[repo].bare, pr.head.ref);
    if (sha) pr.head.sha = sha;
    return pr;
  }
  /** One page of `items` and its Link header, as GitHub pages lists. */
  function page<T>(p: string, query: Record<string, string>, items: T[], wrap?: (items: T[]) => unknown): Reply {
    const perPage = Math.min(100, Math.max(1, Number(query.per_page ?? 30) || 30));
    const n = Math.max(1, Number(query.page ?? 1) || 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const slice = items.slice((n - 1) * perPage, n * perPage);
    const link = (k: number) => {
      const q = new URLSearchParams({ ...query, per_page: String(perPage), page: String(k) });
      return `<${origin}${prefix}${p}?${q.toString()}>`;
    };
    const rels = [
      ...(n < last ? [`${link(n + 1)}; rel="next"`, `${link(last)}; rel="last"`] : []),
      ...(n > 1 ? [`${link(1)}; rel="first"`, `${link(n - 1)}; rel="prev"`] : []),
    ];
    return { status: 200, json: wrap ? wrap(slice) : slice, headers: rels.length ? { link: rels.join(', ') } : {} };
  }

  function route(method: string, p: string, query: Record<string, string>, body: Record<string, unknown>): Reply {
    const m = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(p);
    const full = m ? `${m[1]}/${m[2]}` : '';
    const repo = o.repos[full];
    if (!m || !repo) return notFound();
    const rest = m[3] ?? '';
    const list = pulls.get(full)!;
    const byNumber = (n: string) => list.find((x) => x.number === Number(n));
    let r: RegExpExecArray | null;

    if (method === 'GET' && rest === '')
      return {
        status: 200,
        json: {
          full_name: full,
          name: m[2],
          owner: { login: m[1] },
          default_branch: repo.defaultBranch ?? 'main',
          html_url: `https://github.example/${full}`,
        },
      };
    if (method === 'GET' && (r = /^\/git\/ref\/heads\/(.+)$/.exec(rest))) {
      const sha = branchSha(repo.bare, r[1]);
      return sha ? { status: 200, json: { ref: `refs/heads/${r[1]}`, object: { sha, type: 'commit' } } } : notFound();
    }
    if (method === 'GET' && rest === '/pulls') {
      const head = query.head?.split(':')[1];
      const state = query.state ?? 'open';
      return page(
        p,
        query,
        list
          .filter((x) => (!head || x.head.ref === head) && (state === 'all' || x.state === state))
          .map((x) => live(full, x)),
      );
    }
    if (method === 'GET' && (r = /^\/pulls\/(\d+)$/.exec(rest))) {
      const pr = byNumber(r[1]);
      return pr ? { status: 200, json: live(full, pr) } : notFound();
    }
    if (method === 'GET' && (r = /^\/pulls\/(\d+)\/(reviews|comments)$/.exec(rest))) {
      if (!byNumber(r[1])) return notFound();
      return page(p, query, perPr<unknown>(r[2] === 'reviews' ? reviews : reviewComments, full, Number(r[1])));
    }
    if ((r = /^\/issues\/(\d+)\/comments$/.exec(rest))) {
      // Every PR is an issue; a number that is neither is a 404.
      if (!byNumber(r[1])) return notFound();
      const comments = perPr(issueComments, full, Number(r[1]));
      if (method === 'GET') return page(p, query, comments);
      if (method === 'POST') {
        if (typeof body.body !== 'string' || !body.body)
          return {
            status: 422,
            json: {
              message: 'Validation Failed',
              errors: [{ resource: 'IssueComment', code: 'missing_field', field: 'body' }],
            },
          };
        const c: FakeIssueComment = {
          id: nextId++,
          user: userOf('nightshift[bot]'),
          body: body.body,
          created_at: now(),
          updated_at: now(),
        };
        comments.push(c);
        return { status: 201, json: c };
      }
    }
    if (method === 'GET' && (r = /^\/commits\/(.+)\/check-runs$/.exec(rest))) {
      // A ref may be a SHA or a branch name, as on GitHub.
      const sha = /^[0-9a-f]{40}$/.test(r[1]) ? r[1] : branchSha(repo.bare, r[1].replace(/^(refs\/)?heads\//, ''));
      if (!sha) return { status: 422, json: { message: `No commit found for SHA: ${r[1]}` } };
      const runs = (checkRuns.get(`${full}@${sha}`) ?? []).filter(
        (c) => (!query.status || c.status === query.status) && (!query.check_name || c.name === query.check_name),
      );
      return page(p, query, runs, (items) => ({ total_count: runs.length, check_runs: items }));
    }
    if (method === 'POST' && rest === '/pulls') {
      const head = String(body.head);
      const base = String(body.base);
      if (list.some((x) => x.head.ref === head && x.state === 'open'))
        return invalid(`A pull request already exists for ${m[1]}:${head}.`);
      const sha = branchSha(repo.bare, head);
      if (!sha) return invalid(`head: ${head} does not exist`);
      if (!branchSha(repo.bare, base)) return invalid(`base: ${base} does not exist`);
      const number = list.length + 1;
      const pr: FakePull = {
        number,
        state: 'open',
        draft: Boolean(body.draft),
        title: String(body.title),
        body: String(body.body ?? ''),
        head: { ref: head, sha },
        base: { ref: base },
        html_url: `https://github.example/${full}/pull/${number}`,
        merged_at: null,
        labels: [],
        requested_reviewers: [],
      };
      list.push(pr);
      return { status: 201, json: pr };
    }
    if (method === 'PATCH' && (r = /^\/pulls\/(\d+)$/.exec(rest))) {
      const pr = byNumber(r[1]);
      if (!pr) return notFound();
      if (typeof body.base === 'string' && !branchSha(repo.bare, body.base))
        return invalid(`base: ${body.base} does not exist`);
      if (typeof body.title === 'string') pr.title = body.title;
      if (typeof body.body === 'string') pr.body = body.body;
      if (typeof body.base === 'string') pr.base = { ref: body.base };
      if (body.state === 'open' || body.state === 'closed') pr.state = body.state;
      return { status: 200, json: pr };
    }
    if (method === 'POST' && (r = /^\/issues\/(\d+)\/labels$/.exec(rest))) {
      const pr = byNumber(r[1]);
      if (!pr) return notFound();
      for (const name of (body.labels as string[]) ?? [])
        if (!pr.labels.some((l) => l.name === name)) pr.labels.push({ name });
      return { status: 200, json: pr.labels };
    }
    if (method === 'DELETE' && (r = /^\/issues\/(\d+)\/labels\/(.+)$/.exec(rest))) {
      const pr = byNumber(r[1]);
      const name = r[2];
      if (!pr || !pr.labels.some((l) => l.name === name))
        return { status: 404, json: { message: 'Label does not exist' } };
      pr.labels = pr.labels.filter((l) => l.name !== name);
      return { status: 200, json: pr.labels };
    }
    if (method === 'POST' && (r = /^\/pulls\/(\d+)\/requested_reviewers$/.exec(rest))) {
      const pr = byNumber(r[1]);
      if (!pr) return notFound();
      for (const login of (body.reviewers as string[]) ?? []) {
        if (login.startsWith('not-'))
          return {
            status: 422,
            json: {
              message: `Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the ${full} repository.`,
            },
          };
        if (!pr.requested_reviewers.some((x) => x.login === login)) pr.requested_reviewers.push({ login });
      }
      return { status: 201, json: pr };
    }
    return notFound();
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      // Octokit encodes "/" inside a parameter (a ref like heads/nightshift/...) as %2F; GitHub accepts both.
      const pathname = decodeURIComponent(url.pathname);
      const p = pathname.startsWith(prefix) ? pathname.slice(prefix.length) : pathname;
      const method = req.method ?? 'GET';
      const text = Buffer.concat(chunks).toString('utf8');
      const body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
      const query = Object.fromEntries(url.searchParams);
      const send = (r: Reply) => {
        calls.push({ method, path: p, query, body, status: r.status });
        res.writeHead(r.status, { 'content-type': 'application/json; charset=utf-8', ...r.headers });
        res.end(JSON.stringify(r.json ?? {}));
      };
      const auth = req.headers.authorization ?? '';
      if (auth !== `token ${token}` && auth !== `bearer ${token}`)
        return send({ status: 401, json: { message: 'Bad credentials' } });
      const fault = faults.find((f) => f.left > 0 && f.method === method && f.path.test(p));
      if (!fault) return send(route(method, p, query, body ?? {}));
      fault.left--;
      fault.onHit?.();
      if (fault.apply) route(method, p, query, body ?? {});
      if (fault.hang) {
        calls.push({ method, path: p, query, body, status: 0 });
        return;
      }
      send({ status: fault.status ?? 502, headers: fault.headers, json: { message: fault.message ?? 'Server Error' } });
    });
  });
  const { port, close } = await listenOnLoopback(server);
  origin = `http://127.0.0.1:${port}`;
  return {
    url: `http://127.0.0.1:${port}${prefix}`,
    calls,
    pulls: (r) => (pulls.get(r) ?? []).map((x) => live(r, x)),
    addReview(repo, number, rv) {
      const pr = pullOf(repo, number);
      const review: FakeReview = {
        id: nextId++,
        user: userOf(rv.user),
        state: rv.state,
        body: rv.body,
        submitted_at: now(),
        commit_id: pr.head.sha,
      };
      perPr(reviews, repo, number).push(review);
      return review;
    },
    addReviewComment(repo, number, c) {
      const pr = pullOf(repo, number);
      const comment: FakeReviewComment = {
        id: nextId++,
        pull_request_review_id: c.reviewId ?? null,
        user: userOf(c.user),
        body: c.body,
        path: c.path,
        line: c.line ?? null,
        diff_hunk: '@@ -1 +1 @@',
        commit_id: pr.head.sha,
        created_at: now(),
        updated_at: now(),
      };
      perPr(reviewComments, repo, number).push(comment);
      return comment;
    },
    addIssueComment(repo, number, c) {
      pullOf(repo, number);
      const comment: FakeIssueComment = {
        id: nextId++,
        user: userOf(c.user),
        body: c.body,
        created_at: now(),
        updated_at: now(),
      };
      perPr(issueComments, repo, number).push(comment);
      return comment;
    },
    issueComments: (repo, number) => perPr(issueComments, repo, number),
    addCheckRun(repo, ref, c) {
      const sha = ref.sha ?? pullOf(repo, ref.pr!).head.sha;
      const run: FakeCheckRun = {
        id: nextId++,
        name: c.name,
        head_sha: sha,
        status: c.conclusion ? 'completed' : 'in_progress',
        conclusion: c.conclusion,
        started_at: now(),
        completed_at: c.conclusion ? now() : null,
        html_url: `https://github.example/${repo}/runs/${nextId}`,
        output: { title: c.title ?? null, summary: c.summary ?? null, text: c.text ?? null },
      };
      const key = `${repo}@${sha}`;
      checkRuns.set(key, [...(checkRuns.get(key) ?? []), run]);
      return run;
    },
    fault: (f) => faults.push({ ...f, left: f.times ?? 1 }),
    close,
  };
}
