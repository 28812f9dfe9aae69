/**
 * What the workflows return and answer to `status`: results, states and the records inside
 * them. `nightshift status --json`, the report's JSON and scripts read these shapes.
 */

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
  /** Stopped by the no-progress guard (workflows/task/progress-guard.ts); its work is kept and delivered as a draft. */
  | 'stuck';

/**
 * States in which an agentTask workflow ends as Failed rather than Completed, so the Web
 * UI, `temporal workflow list` and the batch's timeline show it; its TaskResult travels in
 * the failure's details (failedTaskResult reads it back).
 */
export const FAILING_STATES: readonly TaskState[] = ['failed', 'halted'];

/** The ApplicationFailure type of a task that ended in a FAILING_STATES state. */
export const TASK_FAILED_ERROR = 'TaskFailed';

/**
 * The TaskResult a task that ended as a failed workflow carried in its failure's details,
 * found through the cause chain (a ChildWorkflowFailure in a workflow, a
 * WorkflowFailedError in a client); undefined for any other error.
 */
export function failedTaskResult(err: unknown): TaskResult | undefined {
  for (
    let e = err as { type?: unknown; details?: unknown; cause?: unknown } | undefined, depth = 0;
    e && depth < 5;
    e = e.cause as typeof e, depth++
  ) {
    if (e.type === TASK_FAILED_ERROR && Array.isArray(e.details) && e.details[0]) return e.details[0] as TaskResult;
  }
  return undefined;
}

/** States after which a task never changes again. */
export const FINAL_STATES: readonly TaskState[] = [
  'succeeded',
  'failed',
  'incomplete',
  'halted',
  'cancelled',
  'skipped',
  'stuck',
];

export interface TokenUsage {
  input: number;
  output: number;
  cacheWrite: number;
  cacheRead: number;
}

export const NO_TOKENS: TokenUsage = { input: 0, output: 0, cacheWrite: 0, cacheRead: 0 };

/** A model call attempt whose outcome is unknown, booked as design.md's "Budgets" says. */
export interface InterruptedCall {
  turn: number;
  attempt: number;
  bookedUsd: number;
  /** usage: its whole answer's usage was seen; input_known: its input usage, with max_tokens of output; worst_case: nothing was known. */
  basis: 'usage' | 'input_known' | 'worst_case';
}

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
  /** The delivered commit on `branch` (see workflows/task/delivery.ts). */
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
  /** What reviewing the delivered change costs (activities/task/delivery/review-cost.ts). */
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

/** A sign that the agent weakened the tests rather than passed them (activities/task/delivery/test-integrity.ts). */
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

/** A question the agent asked with ask_human (the question file, made self-contained). */
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

/** A night's spec in the state store: the batch it belongs to and the sha256 of its JSON. */
export interface SpecRef {
  batchId: string;
  hash: string;
}

/**
 * Where a night's task results are kept in the state store: scope `batchId`, one record per
 * task under `night` (the first run's ID, so a batch ID used again never reads an older
 * night's results).
 */
export interface ResultsRef {
  batchId: string;
  night: string;
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

export type IntakeMode = 'once' | 'batch' | 'continuous';

export interface InFlightTask {
  taskId: string;
  /** File name in running/. */
  file: string;
  workflowId: string;
  /** First run of the task workflow ('' when adopted after a crash: its latest run). */
  runId: string;
  /** The share of the daily budget set aside for it. */
  allowanceUsd: number;
}

export interface IntakeStatus {
  intakeId: string;
  mode: IntakeMode;
  folder: string;
  state: 'running' | 'idle' | 'paused_budget' | 'completed';
  day: string;
  budget: { capUsd: number; spentUsd: number; reservedUsd: number };
  inFlight: InFlightTask[];
  recent: (TaskResult & { file: string })[];
  /** Files moved to failed/ because they did not validate, this run. */
  rejected: { file: string; error: string }[];
  /** Pending tasks waiting for tasks no file has named yet, as of the last poll. */
  waiting?: { file: string; taskId: string; unseen: string[] }[];
  runs: number;
}

export interface LoopResult {
  loop: number;
  research: Pick<TaskResult, 'status' | 'costUsd' | 'error'>;
  tasksFile?: string;
  batchId?: string;
  tasks: { taskId: string; status: string; costUsd: number }[];
  summaryFile?: string;
}

export interface ImproveResult {
  loops: LoopResult[];
  costUsd: number;
  /** The last loop's summary. */
  summary?: string;
}
