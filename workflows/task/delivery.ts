/**
 * Delivery, the workflow side: acceptance checks with fix rounds after `finish`, the start
 * from dependencies' branches, and the commit -> push -> pull request chain (design.md:
 * "checks -> commit/push -> PR"). Each step is an activity that is idempotent by workflow
 * ID, turn or branch; this code only decides.
 *
 * Deterministic code only.
 */
import { CancellationScope, isCancellation, patched, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import {
  bookkeeping,
  checksRun,
  gitStep,
  HEARTBEAT_TIMEOUT_MS,
  hostLost,
  onGitHub,
  onHost,
  providerHost,
  sandboxStep,
  type SandboxHost,
} from '../activity-profiles';
import { FailureType } from '../../common/errors';
import { deliversToGitHub } from '../../common/remote-repo';
import { domainError } from '../domain-error';
import type { TaskSpec } from '../../taskfile/types';
import { sandboxSettingsOf } from './sandbox';
import { BRANCH_PER_BATCH_PATCH, SANDBOX_AFFINITY_PATCH, type AgentTaskInput, type DependencyBranch } from './messages';
import { type ChecksOutcome, type TaskResult, type TaskStatus } from '../../contract';
import { deliveryBranch, LEGACY_DELIVERY_BRANCH } from '../branches';
import { taskSetting } from '../../taskfile/defaults';

const heartbeatOf = (input: AgentTaskInput) => input.loop?.heartbeatTimeoutMs ?? HEARTBEAT_TIMEOUT_MS;

/**
 * The steps that read the sandbox, and the push from the delivery repository the commit
 * went into, run on the sandbox's host. Before a sandbox exists `host` is where it is to be
 * made: a remote provider's queue, or any worker for a local one.
 */
function proxies(input: AgentTaskInput, host: SandboxHost = {}) {
  const heartbeatTimeout = heartbeatOf(input);
  const hostGit = proxyActivities<Activities>(onHost(gitStep(heartbeatTimeout), host));
  const checks = proxyActivities<Activities>(onHost(checksRun(heartbeatTimeout), host));
  const sandbox = proxyActivities<Activities>(onHost(sandboxStep(heartbeatTimeout), host));
  const books = proxyActivities<Activities>(bookkeeping);
  return {
    reviewCost: books.reviewCost,
    claimPrSlot: books.claimPrSlot,
    runChecks: checks.runChecks,
    runBaselineChecks: checks.runBaselineChecks,
    createAgentSandbox: sandbox.createAgentSandbox,
    killSandbox: sandbox.killSandbox,
    prepareFromDependencies: hostGit.prepareFromDependencies,
    checkMergeResolution: hostGit.checkMergeResolution,
    commitWork: hostGit.commitWork,
    pushWork: hostGit.pushWork,
  };
}

/**
 * The pull request is an API call: on the GitHub queue, which only workers with a token
 * poll. A local remote without `pull_request.repo` has no PR to open (the activity says it
 * skipped), so any worker answers that.
 */
function pullRequests(input: AgentTaskInput) {
  const options = gitStep(heartbeatOf(input));
  return proxyActivities<Activities>(deliversToGitHub(input.task) ? onGitHub(options) : options);
}

/**
 * What the batch hands a child: its dependencies' delivered branches, in depends_on order.
 * Only those in the same repository: a branch of another repository is no starting point.
 */
export function dependencyBranches(
  task: Pick<TaskSpec, 'dependsOn' | 'repo'>,
  results: Record<string, TaskResult>,
  tasks: ReadonlyMap<string, Pick<TaskSpec, 'repo'>>,
): DependencyBranch[] {
  return task.dependsOn.flatMap((id) => {
    const r = results[id];
    const sameRepo = tasks.get(id)?.repo === task.repo;
    return sameRepo && r?.branch && r.commit
      ? [{ taskId: id, branch: r.branch, commit: r.commit, pushed: r.pushed, prNumber: r.prNumber, prUrl: r.prUrl }]
      : [];
  });
}

/**
 * Before the prompt is built: move the workspace to the dependencies' work. A conflict
 * fails the task (MergeConflict), or with `on_merge_conflict: agent` is left in progress
 * for the agent, whose first message names the files.
 */
export async function prepareFromDependencies(
  input: AgentTaskInput,
  sandboxId: string,
  storeKey: string,
  host: SandboxHost = {},
): Promise<void> {
  const deps = input.dependencies ?? [];
  if (deps.length === 0 || !input.task.repo) return;
  await proxies(input, host).prepareFromDependencies({
    workflowId: storeKey,
    sandboxId,
    task: input.task,
    dependencies: deps,
  });
}

/** patched() ID of running the task's checks on its base before the agent starts. */
export const BASELINE_CHECKS_PATCH = 'baseline-checks';
/** patched() ID of the one fix round given when the tests look weakened. */
export const TEST_INTEGRITY_ROUND_PATCH = 'test-integrity-round';
/** patched() ID of the review-cost summary and the per-repository PR cap. */
export const REVIEW_CAPACITY_PATCH = 'review-capacity';
/**
 * Delivery whose sandbox host died hands the loss to the caller, which rebuilds the sandbox
 * from its last checkpoint on another host and delivers again, instead of reporting a
 * schedule-to-start timeout as the delivery's error with nothing pushed.
 */
export const DELIVERY_HOST_LOST_PATCH = 'delivery-rebuilds-lost-host';
/** patched() ID of a follow-up task's delivery: its PR's branch, a fast-forward push, a comment on that PR. */
export const FOLLOW_UP_DELIVERY_PATCH = 'follow-up-delivery';
/** Label of a PR whose tests look weakened (deleted, skipped, narrowed, none run). */
export const TEST_INTEGRITY_LABEL = 'nightshift: tests weakened';

/**
 * Before the agent starts: the task's checks on its base, in a sandbox of their own, so a
 * check that already fails there is not blamed on the agent. A task that starts from
 * dependencies' branches has no base on the remote to check, so it is skipped. A baseline
 * that cannot be had leaves the checks judged as before; it never fails the task.
 */
export async function checkBaseline(input: AgentTaskInput, storeKey: string, notes: string[]): Promise<void> {
  const { task } = input;
  if (!task.checks?.length || !task.repo || (input.dependencies?.length ?? 0) > 0) return;
  // A follow-up starts from its PR's head, whose failing checks are what it is asked to fix: none is pre-existing.
  if (task.followUp) return;
  if (!patched(BASELINE_CHECKS_PATCH)) return;
  const settings = sandboxSettingsOf(input);
  let acts = proxies(input, providerHost(settings?.provider));
  let sandboxId: string | undefined;
  try {
    const made = await acts.createAgentSandbox({
      workflowId: `${storeKey}#baseline`,
      sandbox: settings,
      taskId: task.id,
    });
    sandboxId = made.sandboxId;
    // A local sandbox is on its creator's disk: the checks and the kill go to that host's queue.
    if (made.taskQueue && patched(SANDBOX_AFFINITY_PATCH))
      acts = proxies(input, { taskQueue: made.taskQueue, scheduleToStartMs: input.loop?.hostScheduleToStartMs });
    await acts.runBaselineChecks({ workflowId: storeKey, sandboxId, task, night: input.date });
  } catch (err) {
    if (isCancellation(err)) throw err;
    notes.push(
      `the checks could not be run on the base (${domainError(err).message}); failures were judged without it`,
    );
  } finally {
    const id = sandboxId;
    const there = acts;
    if (id) await CancellationScope.nonCancellable(() => there.killSandbox({ sandboxId: id }).catch(() => undefined));
  }
}

/** Only several dependencies can conflict, and only with the agent resolving is anything left to check. */
const mayLeaveConflict = (input: AgentTaskInput) =>
  input.task.onMergeConflict === 'agent' && (input.dependencies?.length ?? 0) > 1 && Boolean(input.task.repo);

/**
 * After `finish`: runs the checks. `{ again }` means the agent gets another round and reads
 * why as finish's result: failing checks with a fix round left, or (once) tests that look
 * weakened; otherwise the outcome fields to add. A check that failed on the base too does
 * not fail the task.
 */
export async function checkFinish(
  input: AgentTaskInput,
  o: {
    workflowId: string;
    sandboxId: string;
    turn: number;
    finishToolUseId: string;
    fixRounds: number;
    integrityTold?: boolean;
  },
  host: SandboxHost = {},
): Promise<{ again: 'checks' | 'integrity'; integrityTold: boolean } | Partial<TaskResult>> {
  const checks = input.task.checks ?? [];
  if (checks.length === 0) return {};
  const fixAttempts = taskSetting(input.task, 'fixAttempts');
  const feedback = o.fixRounds < fixAttempts;
  const integrityFeedback = !o.integrityTold && patched(TEST_INTEGRITY_ROUND_PATCH);
  const round = await proxies(input, host).runChecks({
    workflowId: o.workflowId,
    sandboxId: o.sandboxId,
    turn: o.turn,
    finishToolUseId: o.finishToolUseId,
    checks,
    feedback,
    integrityFeedback,
  });
  const told = Boolean(round.integrity?.length && integrityFeedback);
  if (!round.passed && feedback) return { again: 'checks', integrityTold: told };
  if (told) return { again: 'integrity', integrityTold: true };
  const outcome: ChecksOutcome = {
    passed: round.passed,
    fixRounds: o.fixRounds,
    results: round.results,
    ...(round.tree ? { tree: round.tree } : {}),
    ...(round.integrity?.length ? { integrity: round.integrity } : {}),
  };
  if (round.passed) return { checks: outcome };
  const failing = round.results
    .filter((r) => !r.passed && !r.preExisting)
    .map((r) => `${r.command} (exit ${r.exitCode})`);
  return {
    checks: outcome,
    status: 'failed',
    error: `checks still failing after ${o.fixRounds} fix round${o.fixRounds === 1 ? '' : 's'}: ${failing.join(', ')}`,
  };
}

/**
 * Commit, push, PR. Runs while the sandbox exists (before the work is copied out and the
 * sandbox killed). A delivery problem never changes the task's status: it is recorded in
 * `deliveryError` and the report shows it.
 */
export async function deliver(
  input: AgentTaskInput,
  o: { workflowId: string; storeKey: string; sandboxId: string },
  result: Partial<TaskResult>,
  status: TaskStatus,
  host: SandboxHost = {},
): Promise<Partial<TaskResult>> {
  const { task } = input;
  const checksFailing = Boolean(result.checks && !result.checks.passed);
  const weakened = Boolean(result.checks?.integrity?.length);
  // Work stopped by the budget or parked on a question is kept for a person too (as a draft).
  const deliverable =
    ['succeeded', 'incomplete', 'paused_budget', 'waiting_for_answer', 'cancelled', 'stuck'].includes(
      result.status ?? '',
    ) || checksFailing;
  if (!task.repo || !deliverable) return result;
  const acts = proxies(input, host);
  // A task that reached delivery before branches were per batch keeps the name it committed under.
  // Only tasks `nightshift followup` made carry followUp, so no earlier history reaches the patch.
  const followUp = task.followUp && patched(FOLLOW_UP_DELIVERY_PATCH) ? task.followUp : undefined;
  const branch = followUp
    ? followUp.branch
    : patched(BRANCH_PER_BATCH_PATCH)
      ? deliveryBranch(input.batchId, input.date, task.id)
      : LEGACY_DELIVERY_BRANCH(input.date, task.id);
  const out: Partial<TaskResult> = { ...result };
  const note = (e: string) => (out.deliveryError = [out.deliveryError, e].filter(Boolean).join('; '));
  try {
    let merging = '';
    if (mayLeaveConflict(input)) {
      const m = await acts.checkMergeResolution({ workflowId: o.storeKey, sandboxId: o.sandboxId });
      if (m.conflict && m.unresolved.length) {
        // Conflict markers are never committed: the work stays in the kept workspace for a person.
        const why = `conflict markers are still in ${m.unresolved.join(', ')} (the merge of ${m.conflict.taskId}'s branch left to the agent); nothing was committed`;
        if (out.status === 'succeeded' || checksFailing)
          return { ...out, status: 'failed', error: [out.error, why].filter(Boolean).join('; ') };
        note(why);
        return out;
      }
      if (m.conflict) {
        const resolved = `merges ${m.conflict.taskId} (${m.conflict.branch}) into ${m.conflict.into.join(', ')}; the agent resolved the conflicts in ${m.conflict.files.join(', ')}`;
        merging = `\n\nThis commit ${resolved}.`;
        out.notes = [...(out.notes ?? []), `The delivered commit ${resolved}: review those files.`];
      }
    }
    status.activity = task.reviewFirst ? 'writing the patch for review' : 'committing the work';
    const message = `nightshift: ${task.id}: ${task.title}\n\n${(result.summary ?? result.error ?? '').slice(0, 4000)}${merging}\n\nNightshift-Task: ${o.workflowId}`;
    // Nights started before the checked-tree rule commit whatever the workspace holds, as they did.
    const treeRule = patched('deliver-checked-tree') ? { checkedTree: result.checks?.tree, verifyTree: true } : {};
    let c;
    try {
      c = await acts.commitWork({
        workflowId: o.storeKey,
        sandboxId: o.sandboxId,
        repo: task.repo,
        branch,
        message,
        at: Date.now(),
        reviewFirst: task.reviewFirst ?? false,
        batchId: input.batchId,
        date: input.date,
        taskId: task.id,
        ...treeRule,
      });
    } catch (err) {
      const failure = domainError(err);
      // What would be delivered is not what was checked: the task fails, whatever it reported.
      if (failure.type === FailureType.CheckedTreeChanged)
        return { ...out, status: 'failed', error: [out.error, failure.message].filter(Boolean).join('; ') };
      throw err;
    }
    if (!c.commit) return out;
    Object.assign(out, { patchFile: c.patchFile, filesChanged: c.files });
    const reviewCapacity = patched(REVIEW_CAPACITY_PATCH);
    if (reviewCapacity && c.patchFile) {
      const cost = await acts.reviewCost({ patchFile: c.patchFile });
      if (cost) out.reviewCost = cost;
    }
    if (task.reviewFirst) return out;
    Object.assign(out, { branch, commit: c.commit });

    status.activity = `pushing ${branch}`;
    const pushed = await acts.pushWork({
      repo: task.repo,
      branch,
      commit: c.commit,
      ...(followUp ? { fastForwardOnly: true } : {}),
    });
    out.pushed = pushed.pushed;
    if (!pushed.pushed) {
      note(
        `branch not pushed (${pushed.reason}); it is in the worker's delivery repository and the patch is at ${c.patchFile}`,
      );
      return out;
    }
    if (followUp) {
      // The PR exists: the push updated it; a comment says what was addressed. No new PR, no PR slot.
      Object.assign(out, { prUrl: followUp.prUrl, prNumber: followUp.prNumber });
      status.activity = `commenting on PR #${followUp.prNumber}`;
      await pullRequests(input).reportFollowUp({
        workflowId: o.workflowId,
        githubRepo: followUp.githubRepo,
        prNumber: followUp.prNumber,
        commit: c.commit,
        feedbackCount: followUp.feedbackCount,
        status: result.status ?? 'succeeded',
        summary: result.summary,
        checks: result.checks,
      });
      return out;
    }
    if (!task.createPr) return out;
    if (reviewCapacity && task.maxPrsPerRepo !== undefined) {
      // The slot belongs to the task's workflow ID, so a rerun of the task keeps the PR it had.
      const slot = await acts.claimPrSlot({
        night: input.batchId,
        repo: task.repo,
        holder: o.workflowId,
        cap: task.maxPrsPerRepo,
      });
      if (!slot.granted) {
        // Not a delivery problem: the report says so on the task (prCapped) and in its summary.
        out.prCapped = true;
        return out;
      }
    }

    const deps = input.dependencies ?? [];
    const pr = task.pullRequest;
    const stackedOn =
      (pr?.target ?? 'stacked') === 'stacked' && deps.length === 1 && deps[0].pushed ? deps[0].branch : undefined;
    status.activity = 'opening the pull request';
    const opened = await pullRequests(input).openPullRequest({
      repo: task.repo,
      githubRepo: pr?.repo,
      branch,
      baseCandidates: [...(stackedOn ? [stackedOn] : []), ...(task.branch ? [task.branch] : [])],
      draft: Boolean(pr?.draft) || result.status !== 'succeeded' || checksFailing || weakened,
      labels: [...(pr?.labels ?? []), ...(weakened ? [TEST_INTEGRITY_LABEL] : [])],
      reviewers: pr?.reviewers ?? [],
      content: {
        workflowId: o.workflowId,
        taskId: task.id,
        title: task.title,
        description: task.description,
        acceptanceCriteria: task.acceptanceCriteria,
        summary: result.summary,
        status: result.status ?? 'succeeded',
        error: result.error,
        checks: result.checks,
        costUsd: result.costUsd ?? 0,
        tokens: result.tokens ?? { input: 0, output: 0, cacheWrite: 0, cacheRead: 0 },
        turns: result.turns ?? 0,
        model: result.model,
        dependencies: deps,
        stackedOn,
        assumptions: result.assumptions,
        answeredQuestions: result.answeredQuestions,
        notes: out.notes,
        reviewCost: out.reviewCost,
      },
    });
    if ('skipped' in opened) return out;
    Object.assign(out, { prUrl: opened.url, prNumber: opened.number, prDraft: opened.draft });
    if (opened.notes.length) note(opened.notes.join('; '));
  } catch (err) {
    if (isCancellation(err)) throw err;
    // Every step is idempotent by branch and workflow ID, so delivering again on the rebuilt sandbox is safe.
    if (hostLost(err) && patched(DELIVERY_HOST_LOST_PATCH)) throw err;
    note(domainError(err).message);
  }
  return out;
}
