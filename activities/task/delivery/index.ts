/**
 * Delivery activities: acceptance checks, starting from dependencies' branches, the
 * commit (made in the sandbox), the push (made by the worker), the pull request, and the
 * patch file. Each is idempotent under retry; keys are the workflow ID, the turn and the
 * branch name. The workflow side is workflows/task/delivery.ts.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { NightshiftConfig } from '../../../common/config';
import { redactionNote, workerRedactor } from '../../../common/redact';
import { LocalSandbox } from '../../../sandbox/local';
import type { SandboxProvider } from '../../../sandbox/types';
import { DEFAULT_IDENTITY, prepareWorkspace, type GitIdentity } from '../../../sandbox/workspace';
import type { TaskSpec } from '../../../taskfile/types';
import type { DependencyBranch } from '../../../workflows/task/messages';
import { workBranch } from '../../../workflows/branches';
import { whileBeating, withHeartbeats } from '../../heartbeat';
import { reportBaseName } from '../../night/report';
import { putJson, type TranscriptStore } from '../transcripts';
import { createBaselineActivities } from './baseline';
import { createChecksActivities } from './checks';
import { createFollowUpActivities } from '../../followup';
import { startFromDependencies } from './dependencies';
import { filesWithMarkers, MERGE_CONFLICT_KEY, readConflict, type LeftConflict } from './merge-conflict';
import {
  authEnv,
  deliveryRepoFor,
  ensureDeliveryRepo,
  importBundle,
  pushAccess,
  pushBranch,
  remoteTips,
  resolveRemote,
} from './git';
import { prBody, prTitle, type PrContent } from './pr-body';
import {
  createGitHubClient,
  ensurePullRequest,
  githubRepoOf,
  type GitHubClient,
  type GitHubClientOptions,
  type PullRequestRef,
} from './pull-request';
import { checkpointStoreFor } from '../sandbox-steps';
import { scanCommitForSecrets, secretScanReason } from './secret-scan';
import { commitInSandbox, workTreeOf } from './sandbox-commit';
import { FailureType, PullRequestFailed } from '../../../common/errors';

export interface DeliveryDeps {
  config: Pick<NightshiftConfig, 'root' | 'github'>;
  sandboxes: SandboxProvider;
  transcripts: TranscriptStore;
  /** @default an Octokit built from config.github (GITHUB_TOKEN, GITHUB_API_URL) */
  github?: GitHubClient;
  /** Tuning of the Octokit built from config (tests shorten its waits). */
  githubOptions?: GitHubClientOptions;
  /** The orchestrator's commits. @default DEFAULT_IDENTITY */
  identity?: GitIdentity;
}

export interface CommitWorkInput {
  workflowId: string;
  sandboxId: string;
  repo: string;
  branch: string;
  message: string;
  /** Epoch ms from the workflow clock: fixed dates make a retried commit the same commit. */
  at: number;
  /** Review-first mode: only the patch, nothing committed or kept as a branch. */
  reviewFirst: boolean;
  /** Name the patch file: `results/<date or batch>/<task>.patch`, beside the report. */
  batchId: string;
  date: string;
  taskId: string;
  /** The tree the checks ran on: the commit is made from exactly that tree or not at all. */
  checkedTree?: string;
  /** With no checked tree: the worker reads the tree itself just before, and the commit must hold it. */
  verifyTree?: boolean;
}

export interface CommitWorkResult {
  base: string;
  /** Undefined when the agent changed nothing. */
  commit?: string;
  files: string[];
  fileCount: number;
  patchFile?: string;
}

const MAX_FILES = 200;

export function createDeliveryActivities(deps: DeliveryDeps) {
  const { config } = deps;
  const identity = deps.identity ?? DEFAULT_IDENTITY;
  let github: Promise<GitHubClient> | undefined;
  const client = () =>
    (github ??= deps.github ? Promise.resolve(deps.github) : createGitHubClient(config.github, deps.githubOptions));

  return withHeartbeats(
    {
      ...createChecksActivities(deps),
      ...createBaselineActivities(deps),
      ...createFollowUpActivities({ config, client }),

      /**
       * Clones the task's repo and moves it to its dependencies' branch, or a merge of them;
       * before the prompt is built. A conflicting merge left to the agent is recorded for
       * prepareAgent's first message and for checkMergeResolution.
       */
      async prepareFromDependencies(input: {
        workflowId?: string;
        sandboxId: string;
        task: TaskSpec;
        dependencies: DependencyBranch[];
      }): Promise<{ head: string; merged: boolean; conflict?: LeftConflict }> {
        const { task } = input;
        if (!task.repo)
          throw ApplicationFailure.nonRetryable(
            `task ${task.id} has dependencies with branches but no context.repo`,
            FailureType.DeliveryUnsupported,
          );
        const remote = resolveRemote(config.root, task.repo);
        const sandbox = await deps.sandboxes.connect(input.sandboxId);
        const branch = workBranch(task);
        await prepareWorkspace(sandbox, { repo: remote, branch, contextFiles: task.contextFiles, identity });
        const r = await startFromDependencies(sandbox, {
          taskId: task.id,
          workBranch: branch,
          dependencies: input.dependencies,
          deliveryRepo: deliveryRepoFor(config, remote),
          remote,
          authEnv: authEnv(remote, config.github.token),
          onConflict: input.workflowId ? task.onMergeConflict : 'fail',
        });
        if (r.conflict) await putJson(deps.transcripts, input.workflowId!, MERGE_CONFLICT_KEY, r.conflict);
        return r;
      },

      /** After the agent: the files of the merge left to it that still hold conflict markers. */
      async checkMergeResolution(input: {
        workflowId: string;
        sandboxId: string;
      }): Promise<{ conflict?: LeftConflict; unresolved: string[] }> {
        const conflict = await readConflict(deps.transcripts, input.workflowId);
        if (!conflict) return { unresolved: [] };
        const sandbox = await deps.sandboxes.connect(input.sandboxId);
        return { conflict, unresolved: await filesWithMarkers(sandbox, conflict.files) };
      },

      /**
       * Commits the workspace in the sandbox, writes the patch file and (unless review-first)
       * stores the commit as `refs/heads/<branch>` in the worker's delivery repository.
       */
      async commitWork(input: CommitWorkInput): Promise<CommitWorkResult> {
        const remote = resolveRemote(config.root, input.repo);
        const sandbox = await deps.sandboxes.connect(input.sandboxId);
        const repoDir = deliveryRepoFor(config, remote);
        const redactor = workerRedactor(config);
        return whileBeating(async () => {
          const expectTree =
            input.checkedTree ??
            (input.verifyTree && sandbox instanceof LocalSandbox
              ? await workTreeOf(sandbox, checkpointStoreFor(config))
              : undefined);
          const opts = {
            branch: input.branch,
            message: redactor.redact(input.message).text,
            identity,
            at: input.at,
            bundle: !input.reviewFirst,
            expectTree,
          };
          let made = await commitInSandbox(sandbox, opts);
          if (!made.commit) return { base: made.base, files: [], fileCount: 0 };
          if (made.bundle) {
            await ensureDeliveryRepo(repoDir);
            const imported = await importBundle(repoDir, {
              bundle: made.bundle,
              branch: input.branch,
              commit: made.commit,
              remote,
              token: config.github.token,
            });
            if (imported === 'missing-prerequisites') {
              made = await commitInSandbox(sandbox, { ...opts, fullBundle: true });
              await importBundle(repoDir, {
                bundle: made.bundle!,
                branch: input.branch,
                commit: made.commit!,
                remote,
                token: config.github.token,
              });
            }
          }
          const patchFile = path.join('results', reportBaseName(input), `${input.taskId}.patch`);
          const patchAbs = path.join(config.root, patchFile);
          await fs.mkdir(path.dirname(patchAbs), { recursive: true });
          // latin1 keeps the bytes of a binary patch as they are; secrets are ASCII.
          const patch = redactor.redact(Buffer.from(made.patch ?? new Uint8Array()).toString('latin1'));
          await fs.writeFile(patchAbs, Buffer.from(patch.text, 'latin1'));
          return {
            base: made.base,
            commit: made.commit,
            files: made.files.slice(0, MAX_FILES),
            fileCount: made.files.length,
            patchFile,
          };
        });
      },

      /** Pushes the branch from the delivery repository and verifies the remote ref; `pushed: false` says why it could not. */
      async pushWork(input: {
        repo: string;
        branch: string;
        commit: string;
        fastForwardOnly?: boolean;
      }): Promise<{ pushed: boolean; reason?: string }> {
        const remote = resolveRemote(config.root, input.repo);
        const access = pushAccess(remote, config.github.token);
        if (!access.ok) return { pushed: false, reason: access.reason };
        return whileBeating(async () => {
          const repoDir = deliveryRepoFor(config, remote);
          // A secret in a committed file stays on this machine: the task keeps its redacted patch.
          // Read-only, so a retry scans again and comes to the same answer.
          const remoteHas = await remoteTips(remote, config.github.token);
          const scan = await scanCommitForSecrets(repoDir, input.commit, workerRedactor(config), { remoteHas });
          if (!scan.clean) return { pushed: false, reason: secretScanReason(scan) };
          return pushBranch(repoDir, {
            remote,
            branch: input.branch,
            commit: input.commit,
            token: config.github.token,
            fastForwardOnly: input.fastForwardOnly,
          });
        });
      },

      /**
       * Opens the task's PR, or finds and updates the one an earlier attempt opened.
       * `skipped` when the remote is not on GitHub (a local path without pull_request.repo).
       */
      async openPullRequest(input: {
        repo: string;
        githubRepo?: string;
        branch: string;
        baseCandidates: string[];
        draft: boolean;
        labels: string[];
        reviewers: string[];
        content: PrContent;
      }): Promise<PullRequestRef | { skipped: string }> {
        const gh = githubRepoOf(input.repo, input.githubRepo, config.github.apiUrl);
        if (!gh)
          return {
            skipped: `${input.repo} is not a GitHub repository (set pull_request.repo: owner/name if it mirrors one)`,
          };
        if (!config.github.token)
          throw ApplicationFailure.nonRetryable(
            'no GITHUB_TOKEN in the worker environment to open the pull request with',
            PullRequestFailed.name,
          );
        // Agent text may carry a secret it read: the PR shows it redacted, with a note saying so.
        const redacted = workerRedactor(config).redactDeep(input.content);
        const c = redacted.found.length
          ? {
              ...redacted.value,
              notes: [...(redacted.value.notes ?? []), redactionNote(redacted.found, 'this pull request')],
            }
          : input.content;
        try {
          return await whileBeating(async () =>
            ensurePullRequest(await client(), {
              repo: gh,
              branch: input.branch,
              baseCandidates: input.baseCandidates,
              title: prTitle(c),
              body: prBody(c),
              draft: input.draft,
              labels: input.labels,
              reviewers: input.reviewers,
              checksFailing: Boolean(c.checks && !c.checks.passed),
            }),
          );
        } catch (err) {
          const st = (err as { status?: number }).status;
          // 4xx other than 408/429 will not change on retry (bad token, no such repo, invalid base).
          if (err instanceof PullRequestFailed || (st && st >= 400 && st < 500 && st !== 408 && st !== 429)) {
            throw ApplicationFailure.nonRetryable(`GitHub: ${(err as Error).message}`, PullRequestFailed.name);
          }
          throw err;
        }
      },
    },
    ['prepareFromDependencies', 'checkMergeResolution'],
  );
}
