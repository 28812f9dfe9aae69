/**
 * A task's sandbox, seen from its workflow: where it is made and where its steps go, making
 * it, rebuilding it when it or its host is lost, and copying the work out before killing it.
 * The agent loop and simple mode both hold one, so these rules are written once; delivery
 * and the checks reach the sandbox through `host` and `run`.
 *
 * Deterministic code only. The activities it schedules, and the patch markers it asks for,
 * come in the order the loop and simple mode issued them before it existed, so their
 * histories replay unchanged.
 */
import { CancellationScope, patched, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { SandboxGone } from '../../common/errors';
import { isHostTaskQueue } from '../../common/task-queues';
import type { SandboxSettings } from '../../sandbox/types';
import { hostLost, onHost, providerHost, sandboxCreator, sandboxStep, type SandboxHost } from '../activity-profiles';
import { SANDBOX_AFFINITY_PATCH, type AgentTaskInput } from './messages';
import { type TaskResult, type TaskStatus } from '../../contract';
import { domainError } from '../domain-error';

/** The task's sandbox settings: its own, else those the input carried beside it in older histories. */
export function sandboxSettingsOf(input: Pick<AgentTaskInput, 'task' | 'sandbox'>): SandboxSettings | undefined {
  return input.task.sandbox ?? input.sandbox;
}

export interface TaskSandboxOptions {
  /** Heartbeat timeout of the sandbox steps (sandboxStep). */
  heartbeatTimeout?: number;
  /** How long a step waits on the sandbox host's queue before the host counts as lost (AgentLoopOptions). */
  hostScheduleToStartMs?: number;
  /** Lost sandboxes rebuilt for one step before the error stands; 0: a loss ends the step. */
  recoveries: number;
  /** A sandbox, its queue and its losses handed over by the run before (continue-as-new). */
  carried?: { sandboxId?: string; sandboxQueue?: string; sandboxesLost?: number };
  /**
   * Decide at once where the sandbox is made. Histories record patch markers in the order
   * they were asked: the agent loop asked this before anything else, simple mode just before
   * making the sandbox.
   */
  placeCreatorNow?: boolean;
  /** The sandbox's host changed: steps the caller sends to `host` must be proxied again. */
  onMoved?: () => void;
  /** A lost sandbox is about to be rebuilt, for `why`. */
  onRebuild?: (why: string) => void;
}

export class TaskSandbox {
  /** Absent until made; a continued run starts with its predecessor's. */
  id: string | undefined;
  /** Where the steps on the sandbox go; mutated in place when the sandbox moves. */
  readonly host: SandboxHost;
  /** Sandboxes rebuilt because their host was gone. */
  hostsLost: number;
  /** Where steps go before a local sandbox has a host: a remote provider's queue, or none. */
  private readonly steps: SandboxHost;
  private creator: SandboxHost | undefined;
  private readonly settings: SandboxSettings | undefined;

  constructor(
    private readonly input: AgentTaskInput,
    private readonly storeKey: string,
    private readonly o: TaskSandboxOptions,
  ) {
    this.settings = sandboxSettingsOf(input);
    const carriedQueue = o.carried?.sandboxQueue;
    this.steps =
      carriedQueue && !isHostTaskQueue(carriedQueue)
        ? { taskQueue: carriedQueue }
        : providerHost(this.settings?.provider);
    this.host = { taskQueue: carriedQueue ?? this.steps.taskQueue, scheduleToStartMs: o.hostScheduleToStartMs };
    this.id = o.carried?.sandboxId;
    this.hostsLost = o.carried?.sandboxesLost ?? 0;
    if (o.placeCreatorNow) this.creatorHost();
  }

  /** Makes the sandbox (idempotent by the task's store key); a local one pins the steps to its host. */
  async create(): Promise<string> {
    const made = await this.creating().createAgentSandbox({
      workflowId: this.storeKey,
      sandbox: this.settings,
      taskId: this.input.task.id,
    });
    this.id = made.sandboxId;
    // Worker-specific task queue: everything that touches this sandbox goes back to its host.
    if (made.taskQueue && patched(SANDBOX_AFFINITY_PATCH)) {
      this.host.taskQueue = made.taskQueue;
      this.o.onMoved?.();
    }
    return made.sandboxId;
  }

  /**
   * Runs `step` on the sandbox; when its host is gone (or, with `alsoWhenGone`, the sandbox
   * itself), on a sandbox rebuilt from the last checkpoint, up to `recoveries` times.
   */
  async run<T>(step: (sandboxId: string) => Promise<T>, o: { alsoWhenGone?: boolean } = {}): Promise<T> {
    for (let rebuilt = 0; ; rebuilt++) {
      try {
        return await step(this.id!);
      } catch (err) {
        const gone = o.alsoWhenGone === true && domainError(err).type === SandboxGone.name;
        if (!(gone || hostLost(err)) || rebuilt >= this.o.recoveries) throw err;
        if (!gone) this.hostsLost++;
        await this.rebuild(gone ? 'sandbox lost' : "the sandbox's host is gone");
      }
    }
  }

  /**
   * Copies the work out, then kills the sandbox, even when the task is cancelled. Returns
   * `ended` with where the work was kept, or why it could not be.
   */
  async release(ended: Partial<TaskResult>, status: TaskStatus): Promise<Partial<TaskResult>> {
    return CancellationScope.nonCancellable(async () => {
      let outcome = ended;
      try {
        const kept = await this.run((id) => this.onSandbox().keepWork({ workflowId: this.storeKey, sandboxId: id }));
        outcome = { ...outcome, workDir: kept.workDir };
        status.workDir = kept.workDir;
      } catch (err) {
        // Losing the copy must not turn a finished task into a failed one; the report says so.
        outcome = {
          ...outcome,
          error: [outcome.error, `the workspace could not be kept: ${domainError(err).message}`]
            .filter(Boolean)
            .join('; '),
        };
      }
      try {
        await this.onSandbox().killSandbox({ sandboxId: this.id! });
      } catch (err) {
        // A sandbox whose host is gone went with it.
        if (!hostLost(err)) throw err;
      }
      return outcome;
    });
  }

  /** Builds the sandbox again from its last checkpoint, on whichever worker takes the step from the creator's queue. */
  private async rebuild(why: string): Promise<void> {
    this.o.onRebuild?.(why);
    const made = await this.creating().recreateAgentSandbox({
      workflowId: this.storeKey,
      sandboxId: this.id!,
      sandbox: this.settings,
      task: this.input.task,
    });
    this.id = made.sandboxId;
    // A sandbox made before host queues (SANDBOX_AFFINITY_PATCH) stays on the shared queue.
    if (this.host.taskQueue) {
      this.host.taskQueue = made.taskQueue ?? this.steps.taskQueue;
      this.o.onMoved?.();
    }
  }

  /** Where the sandbox is made (created, or rebuilt after a loss): activity-profiles.ts sandboxCreator. */
  private creatorHost(): SandboxHost {
    this.creator ??= sandboxCreator(this.input.task, this.settings?.provider, this.steps);
    return this.creator;
  }

  private creating() {
    return proxyActivities<Activities>(onHost(sandboxStep(this.o.heartbeatTimeout), this.creatorHost()));
  }

  private onSandbox() {
    return proxyActivities<Activities>(onHost(sandboxStep(this.o.heartbeatTimeout), this.host));
  }
}
