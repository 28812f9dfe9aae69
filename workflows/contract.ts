/**
 * The names users and scripts rely on (design.md, "Public contract"): signals, queries,
 * updates and search attributes, and the shapes that travel through them. The client
 * imports these definitions too, so both sides agree by construction.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { SandboxSettings } from '../sandbox/types';
import type { BatchSpec, TaskSpec } from '../spec/types';
import type { ProgressState } from './progress-guard';

export const BATCH_WORKFLOW = 'nightlyBatch';
export const TASK_WORKFLOW = 'agentTask';

export const SEARCH_ATTRIBUTES = {
  batch: defineSearchAttributeKey('NightshiftBatch', SearchAttributeType.KEYWORD),
  task: defineSearchAttributeKey('NightshiftTask', SearchAttributeType.KEYWORD),
  repo: defineSearchAttributeKey('NightshiftRepo', SearchAttributeType.KEYWORD),
  status: defineSearchAttributeKey('NightshiftStatus', SearchAttributeType.KEYWORD),
};

/** `nightshift schedule create` without `--id`; its runs are named `nightshift-<scheduled time>`. */
export const DEFAULT_SCHEDULE_ID = 'nightshift-nightly';

export function batchIdFor(date: string): string {
  return `nightshift-${date}`;
}

export function taskWorkflowId(batchId: string, taskId: string): string {
  return `${batchId}/${taskId}`;
}

/**
 * What a task run's records are kept under: its transcript, tool results, prompt, sandbox,
 * checkpoints and kept work. A rerun reuses the workflow ID, so the key adds the run
 * chain's first run ID (which continue-as-new keeps): a rerun starts clean instead of
 * finding the earlier run's turns and reporting them as its own.
 */
export function taskRunKey(workflowId: string, firstExecutionRunId: string): string {
  return `${workflowId}@${firstExecutionRunId}`;
}

/** patched() ID of delivering to deliveryBranch (per batch) instead of LEGACY_DELIVERY_BRANCH (branches.ts). */
export const BRANCH_PER_BATCH_PATCH = 'delivery-branch-per-batch';

/** patched() ID of keying a task's records by run (taskRunKey) instead of by workflow ID. */
export const RUN_KEYED_RECORDS_PATCH = 'task-records-keyed-by-run';

/** The per-day spend ledger across batches (daily cap, seed 000: resets at midnight UTC). */
export const LEDGER_WORKFLOW = 'dailyLedger';

/** `nightshift-ledger-<YYYY-MM-DD>`, the UTC date. */
export function ledgerWorkflowId(date: string): string {
  return `nightshift-ledger-${date}`;
}

/** `{ "tasksFile"?, "spec"?, "date"? }`: exactly one of tasksFile and spec. */
export interface BatchInput {
  /** A task file or directory, relative to the worker's NIGHTSHIFT_ROOT (`temporal workflow start --input`). */
  tasksFile?: string;
  spec?: unknown;
  /**
   * The validated spec `nightshift start` put in the state store: every worker, on any
   * host, runs this night and not its own reading of `tasksFile` (kept for people to read).
   */
  storedSpec?: SpecRef;
  /** YYYY-MM-DD; defaults to the file's `date:`, then the date in the workflow ID, then the start date (UTC). */
  date?: string;
  /**
   * IANA time zone in which a scheduled run's start time is read as the night's date
   * (`nightshift schedule create --timezone`). @default 'UTC'
   */
  timezone?: string;
  /**
   * Follow-up first (`nightshift schedule create --followup`): before the night's own
   * tasks, the review feedback and failing checks on the open nightshift PRs of its tasks'
   * GitHub repositories become tasks that continue those PRs (workflows/followup.ts).
   * `since`: ISO date or time; older feedback is not read. @default off
   */
  followUp?: { since?: string };
  /** Advanced: continue-as-new once history passes this many events. @default 8000 */
  historyEventLimit?: number;
  /** Advanced: a night that continued as new lists its results in its BatchResult only up to this many tasks. @default 200 */
  inlineResultsMaxTasks?: number;
  /** Internal: state carried across continue-as-new. */
  carried?: CarriedBatchState;
}

export type TaskState =
  | 'pending'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'incomplete'
  | 'halted'
  | 'cancelled'
  | 'skipped'
  | 'waiting_for_answer'
  | 'paused_budget'
  /** Stopped by the no-progress guard (workflows/progress-guard.ts); its work is kept and delivered as a draft. */
  | 'stuck';

/**
 * States in which an agentTask workflow ends as Failed rather than Completed, so the Web
 * UI, `temporal workflow list` and the batch's timeline show it; its TaskResult travels in
 * the failure's details (failedTaskResult reads it back).
 */
export const FAILING_STATES: readonly TaskState[] = ['failed', 'halted'];

/** The ApplicationFailure type of a task that ended in a FAILING_STATES state. */
export const TASK_FAILED_ERROR = 'TaskFailed';

/** patched() ID of ending a failed or halted task as a failed workflow. */
export const TASK_FAILS_WORKFLOW_PATCH = 'task-failure-fails-workflow';

/**
 * patched() ID of a cancelled task that delivers its work so far (a draft) and ends as a
 * failed workflow carrying its result (status `cancelled`), so the batch knows where the
 * work went.
 */
export const CANCELLED_TASK_KEEPS_RESULT_PATCH = 'cancelled-task-delivers-and-reports';

/**
 * A local sandbox's activities go to the queue of the worker that created it (a task that
 * created its sandbox before this ran everything on the shared queue, and still does).
 */
export const SANDBOX_AFFINITY_PATCH = 'sandbox-activities-on-host-queue';

/**
 * The TaskResult a task that ended as a failed workflow carried in its failure's details,
 * found through the cause chain (a ChildWorkflowFailure in a workflow, a
 * WorkflowFailedError in a client); undefined for any other error.
 */
export function failedTaskResult(err: unknown): TaskResult | undefined {
  for (let e = err as { type?: unknown; details?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.type === TASK_FAILED_ERROR && Array.isArray(e.details) && e.details[0]) return e.details[0] as TaskResult;
  }
  return undefined;
}

/** States after which a task never changes again. */
export const FINAL_STATES: readonly TaskState[] = ['succeeded', 'failed', 'incomplete', 'halted', 'cancelled', 'skipped', 'stuck'];

export interface TokenUsage {
  input: number;
  output: number;
  cacheWrite: number;
  cacheRead: number;
}

/** A model call attempt whose outcome is unknown, booked as design.md's "Budgets" says. */
export interface InterruptedCall {
  turn: number;
  attempt: number;
  bookedUsd: number;
  /** usage: its whole answer's usage was seen; input_known: its input usage, with max_tokens of output; worst_case: nothing was known. */
  basis: 'usage' | 'input_known' | 'worst_case';
}

export const NO_TOKENS: TokenUsage = { input: 0, output: 0, cacheWrite: 0, cacheRead: 0 };

/** What a task reports when it ends; also the batch's per-task record. */
export interface TaskResult {
  taskId: string;
  status: TaskState;
  /** Why it failed, was skipped or cancelled. */
  error?: string;
  summary?: string;
  costUsd: number;
  tokens: TokenUsage;
  turns: number;
  /** Epoch ms, from workflow time. */
  startedAt?: number;
  endedAt?: number;
  branch?: string;
  prUrl?: string;
  /** The model that answered (`replay:<recording>` for the offline replay model). */
  model?: string;
  /** True when the offline replay model answered instead of a real one: reports must say so. */
  replay?: boolean;
  /** True when some turn's model was missing from the price table and was charged at the dearest row. */
  costEstimated?: boolean;
  /** Model call attempts that may have been billed but never answered (a worker died, a call timed out), and what was booked for each; part of costUsd. */
  interruptedCalls?: InterruptedCall[];
  /** Sandboxes lost with their host and rebuilt on another worker from the last checkpoint. */
  sandboxesLost?: number;
  /** Where the task's files were kept after its sandbox was removed. */
  workDir?: string;
  /** Assumptions the agent went on with when a question timed out (for the report and PR). */
  assumptions?: string[];
  /** Questions the agent asked that a person answered, oldest first (for the report and PR). */
  answeredQuestions?: AnsweredQuestion[];
  /** Things a person should know that are not errors: budget warnings, notifications that failed. */
  notes?: string[];
  /** The open question a parked task ended on. */
  question?: OpenQuestion;
  /** The delivered commit on `branch` (see workflows/delivery.ts). */
  commit?: string;
  /** Whether `branch` reached the task's remote; when not, it is in the worker's delivery repository. */
  pushed?: boolean;
  prNumber?: number;
  /** The PR was opened as a draft (checks failing, work incomplete, or configured). */
  prDraft?: boolean;
  /** The patch file, relative to NIGHTSHIFT_ROOT. */
  patchFile?: string;
  /** The acceptance checks' last round. */
  checks?: ChecksOutcome;
  /** What went wrong while committing, pushing or opening the PR; the task's own status stands. */
  deliveryError?: string;
  /** Files the delivered change touches (at most 200), to flag tasks run side by side on the same files. */
  filesChanged?: string[];
  /** The repos-file name of the repo a task expanded over many repos ran on. */
  repo?: string;
  /** What reviewing the delivered change costs (activities/delivery/review-cost.ts). */
  reviewCost?: ReviewCost;
  /** The repository had its night's `max_prs_per_repo` already: a branch and a patch, no PR. */
  prCapped?: boolean;
}

/** Size of a delivered change and what in it deserves a careful look. */
export interface ReviewCost {
  files: number;
  added: number;
  removed: number;
  /** The files of each kind it touches. */
  ci: string[];
  dependencies: string[];
  migrations: string[];
  sensitive: string[];
}

export interface CheckResult {
  command: string;
  exitCode: number;
  /** The verdict: true also for a check that failed once and passed on its rerun (flaky). */
  passed: boolean;
  timedOut?: boolean;
  /** The end of its output, for the report and the PR. */
  outputTail: string;
  /** Failed, then passed when rerun on the same tree. */
  flaky?: boolean;
  /** How the check did on the base, before the agent (absent when the base was not checked). */
  base?: 'passed' | 'failed' | 'flaky';
  /** Fails here and failed on the base too: not the agent's failure. */
  preExisting?: boolean;
  /** The test runner's counts here and on the base, when its output said. */
  tests?: TestCounts;
  baseTests?: TestCounts;
}

/** What a test runner's summary said. */
export interface TestCounts {
  total: number;
  passed: number;
  failed: number;
  skipped: number;
}

/** A sign that the agent weakened the tests rather than passed them (activities/delivery/test-integrity.ts). */
export interface IntegrityFinding {
  kind: 'tests-disappeared' | 'newly-skipped' | 'only' | 'zero-tests' | 'test-file-deleted' | 'test-file-emptied';
  detail: string;
}

export interface ChecksOutcome {
  passed: boolean;
  /** Fix rounds the agent was given before this result. */
  fixRounds: number;
  results: CheckResult[];
  /** The workspace tree the last round ran on; the delivered commit holds exactly this tree. */
  tree?: string;
  /** Signs the tests were weakened; such work is delivered as a draft with a label. */
  integrity?: IntegrityFinding[];
}

/** A dependency's delivered branch, which a dependent task starts from. */
export interface DependencyBranch {
  taskId: string;
  branch: string;
  commit: string;
  pushed?: boolean;
  prNumber?: number;
  prUrl?: string;
}

/** A question the agent asked with ask_human (seed 001's question file, made self-contained). */
export interface OpenQuestion {
  /** `<turn>-<tool_use id>`; optional in an answer. */
  questionId: string;
  taskId: string;
  workflowId: string;
  question: string;
  context?: string;
  options?: string[];
  impact?: string;
  /** What the agent will do if nobody answers. */
  assumption: string;
  /** Epoch ms (workflow time). */
  askedAt: number;
  /** When the question times out (epoch ms). */
  deadline: number;
  onTimeout: QuestionTimeoutPolicy;
  /** The command that answers it. */
  answerCommand: string;
}

export type QuestionTimeoutPolicy = 'continue' | 'park' | 'fail';

/** A question and the answer the agent went on with; the texts are capped (the store and agent_questions/ keep them whole). */
export interface AnsweredQuestion {
  questionId: string;
  question: string;
  answer: string;
  /** Who answered, when the answer said (`nightshift answer` sends the local user name). */
  by?: string;
  /** Epoch ms (workflow time). */
  askedAt: number;
  answeredAt: number;
}

/** Who may send notifications and of which events (task file `notify:` merged with the worker's environment). */
export interface NotifySettings {
  /** @default every event */
  events?: NotifyEvent[];
  telegram?: { chatId?: string };
  slack?: { webhookUrl?: string };
  webhook?: { url?: string };
}

export const NOTIFY_EVENTS = ['question', 'budget_warning', 'budget_exhausted', 'halted', 'failed', 'batch_finished'] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

export interface AgentTaskInput {
  batchId: string;
  date: string;
  task: TaskSpec;
  /**
   * The batch's sandbox settings, from before tasks carried their own (`task.sandbox`), and
   * a copy of those after. Histories of those nights still hold it, so it stays readable;
   * nothing sends it now, and task-sandbox.ts sandboxSettingsOf reads the task's copy first.
   */
  sandbox?: SandboxSettings;
  /**
   * The workflow that grants this task's budget allowances (a nightlyBatch). Default: the
   * parent workflow. null: none; the task's own max_cost_usd alone bounds it (a task
   * started by a workflow that holds no batch budget).
   */
  allowanceFrom?: string | null;
  /** Tuning of the agent loop; the batch passes none. */
  loop?: AgentLoopOptions;
  /** Notification channels of the batch file. */
  notify?: NotifySettings;
  /** Branches of the task's dependencies, in depends_on order: the task starts from them. */
  dependencies?: DependencyBranch[];
  /** Internal: state carried across continue-as-new. */
  carried?: CarriedAgentState;
}

export interface AgentLoopOptions {
  /**
   * How soon a dead worker's model or tool call is noticed and retried elsewhere.
   * @default 30000
   */
  heartbeatTimeoutMs?: number;
  /** max_tokens of each model call. @default 8192 */
  maxTokens?: number;
  /** Advanced (tests): continue-as-new after this many turns in one run, besides when Temporal suggests it. */
  continueAsNewEveryTurns?: number;
  /**
   * How long an activity for a sandbox waits for its host's worker to pick it up before the
   * host counts as lost. @default HOST_SCHEDULE_TO_START_MS (activity-profiles.ts)
   */
  hostScheduleToStartMs?: number;
  /** Advanced (tests, with a fake whose cache clock runs faster): how long the API keeps a 5-minute cache entry. @default 300000 */
  cacheLifetimeMs?: number;
}

export interface CarriedAgentState {
  /** The next turn to run. */
  turn: number;
  /** taskRunKey of the chain; absent in runs started before records were keyed by run. */
  storeKey?: string;
  sandboxId: string;
  startedAt: number;
  costUsd: number;
  tokens: TokenUsage;
  model?: string;
  replay?: boolean;
  costEstimated?: boolean;
  runs: number;
  /** Answers that arrived with no question open yet; delivered to the next question. */
  answers?: AnswerInput[];
  /** Budget and question state of the loop (workflows/task-budget.ts, questions.ts). */
  budget?: TaskBudgetState;
  assumptions?: string[];
  answeredQuestions?: AnsweredQuestion[];
  notes?: string[];
  /** Time spent waiting for answers or budget, which does not count against the task's timeout. */
  waitedMs?: number;
  /** Fix rounds already given for failing checks. */
  fixRounds?: number;
  /** The agent was already told of weakened tests (one round only). */
  integrityTold?: boolean;
  /** The no-progress guard's memory of the turns so far. */
  progress?: ProgressState;
  interruptedCalls?: InterruptedCall[];
  /** The worker-specific queue of the sandbox's host (SANDBOX_AFFINITY_PATCH). */
  sandboxQueue?: string;
  sandboxesLost?: number;
}

/** The task's side of the budget: what the batch granted and the estimate of the next request. */
export interface TaskBudgetState {
  /** Total the batch has granted this task (never less than what it spent). */
  allowanceUsd: number;
  /** Extra task cap granted by raiseBudget with a taskId. */
  capRaisedUsd: number;
  /** Estimated input tokens of the next model request. */
  nextInputTokens: number;
  /** The 75% warning went out. */
  warned: boolean;
  /** The wrap-up turn was granted. */
  wrappedUp: boolean;
  /** How many reservations were refused (part of the next grant key). */
  refusals: number;
  /** Workflow time of the last model answer: a longer gap than the cache lives means the next call writes at the 1-hour rate. */
  lastAnsweredAt?: number;
  /** A gap that long happened: every later call writes at the 1-hour rate (call-model.ts keeps the TTL once chosen). */
  longCacheTtl?: boolean;
  /** Workflow time the prompt cache was last touched (a model call's or a keep-alive's start); set where the loop keeps it warm (workflows/cache-warmth.ts). */
  cacheTouchedAt?: number;
}

/** What the plan said about a task, kept with its result so estimates and insights can learn from it. */
export interface TaskPlanFacts {
  complexity?: 'low' | 'medium' | 'high';
  role?: string;
}

export interface TaskStatus extends TaskResult, TaskPlanFacts {
  title: string;
  workflowId: string;
  /** Last thing the task did, for `nightshift status`. */
  activity?: string;
  /** Questions waiting for an answer. */
  questions?: OpenQuestion[];
}

export interface BatchStatus {
  batchId: string;
  date: string;
  state: 'loading' | 'running' | 'completed' | 'failed';
  source?: string;
  startedAt: number;
  endedAt?: number;
  maxConcurrentAgents?: number;
  budget?: { capUsd: number; spentUsd: number; reservedUsd?: number; warned?: boolean };
  tasks: TaskStatus[];
  /** Open questions of running tasks, oldest first. */
  questions?: (OpenQuestion & { ageMs: number })[];
  /** Budget warnings and notifications that failed, for the report. */
  notes?: string[];
  error?: string;
  /** Set once the batch has written its report. */
  report?: BatchResult['report'];
  /** The Temporal Schedule that started this batch, if one did. */
  scheduleId?: string;
  /** Added by the client, not the workflow: work waiting for a kind of worker none of which is polling (client/workers.ts capabilityWaits). */
  waiting?: string[];
}

export interface BatchResult {
  batchId: string;
  date: string;
  source: string;
  startedAt: number;
  endedAt: number;
  costUsd: number;
  tokens: TokenUsage;
  /**
   * Every task's result, in the spec's order; empty when the night continued as new with its
   * results in the state store (`stored`): read them there (readStoredTasks) or in the report.
   */
  tasks: (TaskResult & TaskPlanFacts & { title: string })[];
  /** Report files relative to NIGHTSHIFT_ROOT, or why they could not be written. */
  report?: { markdown: string; json: string; junit?: string } | { error: string };
  /** The Temporal Schedule that started this batch, if one did. */
  scheduleId?: string;
  /** Added by the client, not the workflow: work waiting for a kind of worker none of which is polling (client/workers.ts capabilityWaits). */
  waiting?: string[];
  /** Where the night's spec and its tasks' results are kept (BATCH_RESULTS_BY_REFERENCE_PATCH), and how many tasks it had. */
  stored?: { spec: SpecRef; results: ResultsRef; taskCount: number };
}

export interface CarriedBatchState {
  /** Runs continued as new before BATCH_SPEC_BY_REFERENCE_PATCH carry the whole spec… */
  spec?: BatchSpec;
  /** …later ones only its key in the state store. */
  specRef?: SpecRef;
  /** Set when the night claimed a pending/ folder's files (SCHEDULED_FOLDER_NIGHT_PATCH): they are settled at its end. */
  claimedAs?: string;
  startedAt: number;
  /** Runs continued as new before BATCH_RESULTS_BY_REFERENCE_PATCH carry every ended task's result… */
  results: Record<string, TaskResult>;
  /** …later ones the key they are stored under, */
  resultsRef?: ResultsRef;
  /** each ended task's state packed one character per task in spec order (workflows/batch-results.ts), */
  states?: string;
  /** and the sums over the tasks ended in earlier runs. */
  totals?: { costUsd: number; tokens: TokenUsage; turns: number };
  runs: number;
  budget?: BatchBudgetLedger;
  notes?: string[];
}

/** The batch's budget (workflows/budget.ts): the cap, and per task what it spent and holds. */
export interface BatchBudgetLedger {
  capUsd: number;
  tasks: Record<string, { spentUsd: number; heldUsd: number }>;
  warned: boolean;
  /** The last grant per task, so a retried request gets the same answer. */
  lastGrant: Record<string, { key: string; grant: AllowanceGrant }>;
}

export interface AllowanceRequest {
  taskId: string;
  /** Idempotency key: `<task workflow ID>#<turn>#<refusals>`. */
  key: string;
  /** What the task has booked so far (real cost from usage). */
  spentUsd: number;
  /** The allowance it needs to hold after this request: spent + the next call's worst case. */
  needUsd: number;
}

export interface AllowanceGrant {
  granted: boolean;
  /** The task's allowance after this request (its spent when refused: the rest goes back). */
  allowanceUsd: number;
  capUsd: number;
  /** Spent + held by all tasks, after this request. */
  committedUsd: number;
  /** Set when the day's ledger refused what the batch would have granted. */
  refusedBy?: 'day';
  /** The day's ledger, when a daily cap applies (workflows/ledger.ts). */
  day?: { date: string; capUsd: number; committedUsd: number };
}

/** A batch asking the day's ledger (workflow `dailyLedger`) for a task's allowance. */
export interface DailyAllowanceRequest {
  /** The task workflow ID. */
  holder: string;
  /** The task's own request key: `<task workflow ID>#<turn>#<refusals>`. */
  key: string;
  /** What the task has booked so far, over its whole life. */
  spentUsd: number;
  needUsd: number;
  /** The requesting batch's daily cap (daily_max_cost_usd / NIGHTSHIFT_DAILY_MAX_COST_USD). */
  capUsd: number;
}

/** The day ledger's answer; `warn` is true once, when the day first passes 75% of its cap. */
export interface DailyGrant extends AllowanceGrant {
  date: string;
  warn?: boolean;
}

/** One UTC day's spend across every batch (workflows/budget.ts). */
export interface DailyLedgerState {
  date: string;
  /** Per task workflow ID; amounts relative to `bases`. */
  ledger: BatchBudgetLedger;
  /** What each task had spent when it first reserved this day (earlier money belongs to earlier days). */
  bases: Record<string, number>;
  /** Added by raiseBudget on the ledger, on top of every batch's daily cap. */
  raisedUsd: number;
  /** Tasks whose last request this day was refused. */
  paused: string[];
}

export interface DailyLedgerStatus {
  date: string;
  /** The last cap a batch asked under, plus raises. */
  capUsd: number;
  raisedUsd: number;
  spentUsd: number;
  reservedUsd: number;
  tasks: number;
  paused: string[];
}

export interface RaiseBudgetInput {
  /** USD added to the batch's cap, or to the task's cap when taskId is given. */
  addUsd: number;
  taskId?: string;
}

export interface AnswerInput {
  text: string;
  questionId?: string;
  /** Required when signalling the batch, which routes the answer to the task. */
  taskId?: string;
  /** Who answers, shown with the answer in the report and the PR. */
  by?: string;
}

export const answerSignal = defineSignal<[AnswerInput]>('answer');
export const batchStatusQuery = defineQuery<BatchStatus>('status');
export const taskStatusQuery = defineQuery<TaskStatus>('status');
/** Raises the batch cap (or one task's cap) and resumes tasks paused by the budget. */
export const raiseBudgetUpdate = defineUpdate<{ capUsd: number; resumed: string[] }, [RaiseBudgetInput]>('raiseBudget');
/** Internal: a task reserving its next call's worst case from the batch (sent by an activity). */
export const reserveBudgetUpdate = defineUpdate<AllowanceGrant, [AllowanceRequest]>('reserveBudget');
/** Internal: a batch reserving a task's allowance from the day's ledger (sent by an activity, with start). */
export const reserveDailyUpdate = defineUpdate<DailyGrant, [DailyAllowanceRequest]>('reserveDaily');
/** Internal: a batch telling the day's ledger that a task ended having spent `spentUsd` in all. */
export const settleDailySignal = defineSignal<[{ holder: string; spentUsd: number }]>('settleDaily');
/** The day's ledger: `status` query. Its `raiseBudget` update takes `{ addUsd }` and resumes the day's paused tasks. */
export const dailyLedgerStatusQuery = defineQuery<DailyLedgerStatus>('status');
/** Internal: the batch telling a paused task that its budget was raised. */
export const budgetRaisedSignal = defineSignal<[{ taskCapAddUsd?: number }]>('budgetRaised');
/** Internal: a task telling its batch that a question opened or closed, or that it paused. */
export const taskEventSignal = defineSignal<[{ taskId: string; status: TaskState; question?: OpenQuestion | null }]>('taskEvent');
export const cancelTaskUpdate = defineUpdate<TaskResult, [{ taskId: string; reason?: string }]>('cancelTask');
/**
 * Cancels the whole night gracefully: running tasks are cancelled (their processes killed,
 * their work kept), tasks not started are cancelled with the reason, and the batch writes
 * its report and completes. Returns every task's result.
 */
export const cancelBatchUpdate = defineUpdate<TaskResult[], [{ reason?: string }]>('cancelBatch');

/**
 * patched() ID of a scheduled night over a `pending/` folder that takes its files like the
 * intake does (pending/ -> running/<night>/ -> completed/, failed/, or back to pending/ if
 * the task never ran), so the next night does not run them again; an empty folder is an
 * empty night.
 */
export const SCHEDULED_FOLDER_NIGHT_PATCH = 'scheduled-folder-night-claims-files';

/** Whether a batch's tasks path is seed 000's `pending/` folder (`tasks/pending`, `tasks/pending/`). */
export function isPendingFolder(tasksFile: string): boolean {
  const parts = tasksFile.replace(/\/+$/, '').split('/');
  return parts[parts.length - 1] === 'pending';
}

/** patched() ID of a batch that, when cancelled through Temporal, still cancels its tasks one by one and writes its report. */
export const GRACEFUL_BATCH_CANCEL_PATCH = 'batch-cancel-writes-report';

/** A night's spec in the state store: the batch it belongs to and the sha256 of its JSON. */
export interface SpecRef {
  batchId: string;
  hash: string;
}

/** What the workflow's history holds of a stored spec: its key, its settings and how many parts its task index fills. */
export interface BatchSpecHeader {
  ref: SpecRef;
  parts: number;
  taskCount: number;
  settings: Omit<BatchSpec, 'tasks'>;
}

/**
 * What the batch needs of a task to schedule and show it; the whole TaskSpec (prompt,
 * checks, sandbox...) is read from the store when the task starts (readBatchTask), so a
 * run's history holds only the tasks it starts. About a seventh of the whole.
 */
export type TaskIndexEntry = Pick<TaskSpec, 'id' | 'title' | 'dependsOn' | 'priority' | 'repo' | 'repoName' | 'complexity' | 'role' | 'fanOut'> & {
  /** Its position in the normalized spec: where readBatchTask finds it. */
  index: number;
  /** The task's file, kept only for a night that claimed a pending/ folder (its files are settled by it at the end). */
  sourceFile?: string;
};

/** patched() ID of a batch that keeps its spec in the state store and history only the key (storeBatchSpec, readBatchSpecPart). */
export const BATCH_SPEC_BY_REFERENCE_PATCH = 'batch-spec-by-reference';

/**
 * Where a night's task results are kept in the state store: scope `batchId`, one record per
 * task under `night` (the first run's ID, so a batch ID used again never reads an older
 * night's results).
 */
export interface ResultsRef {
  batchId: string;
  night: string;
}

/**
 * patched() ID of a batch that writes each ended task's result to the state store
 * (recordTaskResults) and carries across continue-as-new only each task's state, one
 * character a task, and running totals; the report reads the results from the store. A
 * night carrying whole results passed the 2 MiB continue-as-new limit at about 7,100 tasks.
 */
export const BATCH_RESULTS_BY_REFERENCE_PATCH = 'batch-results-by-reference';
