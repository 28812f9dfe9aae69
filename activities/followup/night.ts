/**
 * A night that does follow-up first (BatchInput.followUp, `schedule create --followup`):
 * before it stores its spec, the PRs of its tasks' repositories are read, and the tasks
 * made from their feedback go ahead of the night's own, in one validated spec stored under
 * the night's batch ID. The feedback is taken for the night's batch ID, so a retried
 * activity makes the same tasks, and tomorrow's night does not make them again.
 */
import type { NightshiftConfig } from '../../common/config';
import type { StateStore } from '../../common/store';
import type { BatchSpec } from '../../taskfile/types';
import type { SpecRef } from '../../contract';
import { githubRepoOf, type GitHubClient, type GitHubRepo } from '../task/delivery/pull-request';
import { whileBeating } from '../heartbeat';
import { storeValidatedSpec, type SpecInput } from '../night/spec';
import { planFollowUps } from './tasks';

export interface FollowUpNightInput extends Pick<SpecInput, 'tasksFile' | 'spec' | 'storedSpec'> {
  batchId: string;
  /** ISO date or time: feedback before it is not read. */
  since?: string;
}

export interface FollowUpNightResult {
  /** The night's spec with the follow-up tasks first; absent when there were none. */
  storedSpec?: SpecRef;
  added: string[];
  /** For the morning report: PRs skipped and why, or why nothing was read. */
  notes: string[];
}

export function createFollowUpNightActivities(deps: {
  config: Pick<NightshiftConfig, 'root' | 'github'>;
  store: StateStore;
  loadSpec: (input: SpecInput) => Promise<BatchSpec>;
  client: () => Promise<GitHubClient>;
}) {
  return {
    async followUpFirst(input: FollowUpNightInput): Promise<FollowUpNightResult> {
      const night = await deps.loadSpec({ tasksFile: input.tasksFile, spec: input.spec, storedSpec: input.storedSpec });
      const repos = new Map<string, GitHubRepo>();
      for (const t of night.tasks) {
        const r = t.repo ? githubRepoOf(t.repo, t.pullRequest?.repo, deps.config.github.apiUrl) : undefined;
        if (r) repos.set(`${r.owner}/${r.name}`, r);
      }
      if (!repos.size)
        return { added: [], notes: ['follow-up first: no task of this night is on a GitHub repository'] };
      if (!deps.config.github.token)
        return {
          added: [],
          notes: ['follow-up first: no GITHUB_TOKEN in the worker environment to read the pull requests with'],
        };
      const since = input.since ? new Date(input.since) : undefined;
      return whileBeating(async () => {
        const plan = await planFollowUps(await deps.client(), deps.store, {
          repos: [...repos.values()],
          since,
          date: night.date ?? '',
          batchId: input.batchId,
        });
        const notes = plan.skipped.map((s) => `follow-up first: ${s.prUrl} not followed up: ${s.reason}`);
        if (!plan.spec) return { added: [], notes };
        const own = new Set(night.tasks.map((t) => t.id));
        const first = Math.min(0, ...night.tasks.map((t) => t.priority)) - 1;
        const followUps = plan.spec.tasks.map((t) => {
          let id = t.id;
          while (own.has(id)) id = `${id}.followup`;
          return { ...t, id, priority: first };
        });
        const storedSpec = await storeValidatedSpec(
          deps.store,
          input.batchId,
          { ...night, tasks: [...followUps, ...night.tasks] },
          deps.config.root,
        );
        return { storedSpec, added: followUps.map((t) => t.id), notes };
      });
    },
  };
}
