/**
 * `nightshift followup`: reads the review comments, requested changes and failing check
 * runs on the PRs nightshift opened, and starts one batch whose tasks continue those PRs
 * (activities/followup/). The reads run here, as `start` validates here; the tasks run on
 * the workers like any night's.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import { type NightshiftConfig } from '../../common/config';
import { BATCH_WORKFLOW, SEARCH_ATTRIBUTES, TASK_QUEUE } from '../../contract';
import { openStateStore } from '../../common/store';
import { storeValidatedSpec } from '../../activities/night/spec';
import {
  createGitHubClient,
  githubRepoOf,
  type GitHubClient,
  type GitHubClientOptions,
  type GitHubRepo,
} from '../../activities/task/delivery/pull-request';
import { planFollowUps, type FollowUpPlan } from '../../activities/followup/tasks';
import { CliError, EXIT } from '../errors';
import { localDate } from '../format';

export interface FollowUpOptions {
  /** `owner/name` or a GitHub URL, each. @default every repository a PR in results/*.json (since `since`) went to */
  repos?: string[];
  /** YYYY-MM-DD or an ISO time: feedback given before it is not read. @default all of it */
  since?: string;
  /** The queue the batch runs on. @default TASK_QUEUE */
  taskQueue?: string;
  /** @default an Octokit from config.github */
  github?: GitHubClient;
  githubOptions?: GitHubClientOptions;
}

export interface FollowUpOutcome extends Omit<FollowUpPlan, 'spec' | 'batchId'> {
  /** The batch started (absent when none was). */
  batchId?: string;
  /** Whether a batch was started (false: no PR needs work). */
  started: boolean;
  repos: string[];
}

function parseSince(since: string | undefined): Date | undefined {
  if (since === undefined) return undefined;
  const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(since) ? `${since}T00:00:00Z` : since);
  if (Number.isNaN(d.getTime()))
    throw new CliError(`--since "${since}" must be a date (YYYY-MM-DD) or an ISO time`, EXIT.usage);
  return d;
}

/** The repositories of the PRs the morning reports since `since` list. */
async function reposFromResults(root: string, since: Date | undefined): Promise<GitHubRepo[]> {
  const dir = path.join(root, 'results');
  const names = (await fs.readdir(dir).catch(() => [] as string[])).filter(
    (n) => /^\d{4}-\d{2}-\d{2}.*\.json$/.test(n) && !n.endsWith('.feedback.json'),
  );
  const found = new Map<string, GitHubRepo>();
  for (const name of names) {
    if (since && name.slice(0, 10) < since.toISOString().slice(0, 10)) continue;
    const doc = await fs.readFile(path.join(dir, name), 'utf8').then(
      (t) => JSON.parse(t) as { results?: { prUrl?: string }[] },
      () => undefined,
    );
    for (const r of doc?.results ?? []) {
      const m = r.prUrl && /\/([^/]+)\/([^/]+)\/pull\/\d+$/.exec(r.prUrl);
      if (m) found.set(`${m[1]}/${m[2]}`, { owner: m[1], name: m[2] });
    }
  }
  return [...found.values()];
}

function parseRepo(r: string, apiUrl: string | undefined): GitHubRepo {
  const repo = /^[\w.-]+\/[\w.-]+$/.test(r) ? githubRepoOf(undefined, r) : githubRepoOf(r, undefined, apiUrl);
  if (!repo) throw new CliError(`--repo "${r}" is not owner/name or a GitHub URL`, EXIT.usage);
  return repo;
}

export async function followUp(
  client: Client,
  config: NightshiftConfig,
  o: FollowUpOptions = {},
): Promise<FollowUpOutcome> {
  if (!config.github.token && !o.github)
    throw new CliError('no GITHUB_TOKEN to read the pull requests with', EXIT.usage);
  const since = parseSince(o.since);
  const repos = o.repos?.length
    ? o.repos.map((r) => parseRepo(r, config.github.apiUrl))
    : await reposFromResults(config.root, since);
  const names = repos.map((r) => `${r.owner}/${r.name}`);
  if (!repos.length) return { started: false, tasks: [], skipped: [], repos: names };
  const gh = o.github ?? (await createGitHubClient(config.github, o.githubOptions));
  const store = await openStateStore(config);
  try {
    const neverStarted = (batchId: string) =>
      client.workflow
        .getHandle(batchId)
        .describe()
        .then(
          () => false,
          (err: unknown) => {
            if (err instanceof WorkflowNotFoundError) return true;
            throw err;
          },
        );
    const plan = await planFollowUps(gh, store, { repos, since, date: localDate(), neverStarted });
    const { spec, batchId: _unused, ...rest } = plan;
    if (!spec) return { ...rest, started: false, repos: names };
    const storedSpec = await storeValidatedSpec(store, plan.batchId, spec, config.root);
    try {
      await client.workflow.start(BATCH_WORKFLOW, {
        taskQueue: o.taskQueue ?? TASK_QUEUE,
        workflowId: plan.batchId,
        args: [{ date: spec.date, storedSpec }],
        staticSummary: `nightshift follow-up · ${plan.tasks.length} PRs`,
        typedSearchAttributes: [{ key: SEARCH_ATTRIBUTES.batch, value: plan.batchId }],
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      });
    } catch (err) {
      // The same feedback names the same batch: an earlier run of this command started it.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    return { ...rest, batchId: plan.batchId, started: true, repos: names };
  } finally {
    await store.close();
  }
}

export function renderFollowUp(r: FollowUpOutcome): string {
  const lines = [`read ${r.repos.join(', ') || 'no repositories (no PRs in results/; pass --repo owner/name)'}`];
  for (const t of r.tasks)
    lines.push(
      `  ${t.taskId}: ${t.prUrl} (${t.feedback.length} item${t.feedback.length === 1 ? '' : 's'} of feedback)`,
    );
  for (const s of r.skipped) lines.push(`  not followed up: ${s.prUrl}: ${s.reason}`);
  lines.push(r.started ? `started ${r.batchId}` : 'no pull request needs work');
  return lines.join('\n');
}
