/**
 * The normalized batch, whatever file format it came from. Workflows import these types
 * only, so this file has no runtime dependencies.
 */
import type { Complexity, Effort } from '../common/models';
import type { SandboxSettings } from '../sandbox/types';
import type { NotifySettings, QuestionTimeoutPolicy } from '../contract';

export interface PullRequestSettings {
  /** GitHub repository `owner/name`; default: parsed from the task's repo URL. */
  repo?: string;
  labels: string[];
  reviewers: string[];
  /** Open every PR as a draft. */
  draft: boolean;
  /** A dependent task's PR targets its dependency's branch (`stacked`) or the base branch (`base`). */
  target: 'stacked' | 'base';
}

export interface TaskSpec {
  id: string;
  title: string;
  description: string;
  /** `type` (folder mode), `module` (daily files) or a specialist role. */
  type?: string;
  module?: string;
  role?: string;
  /** Lower runs first. */
  priority: number;
  complexity?: Complexity;
  /** Includes edges implied by other tasks' `on_completion.trigger_next`. */
  dependsOn: string[];
  repo?: string;
  branch?: string;
  planFile?: string;
  contextFiles: string[];
  skills: string[];
  /**
   * sha256 of each named skill's text as `nightshift start` read it; that text is in the
   * state store, so workers on any host prompt with the same skill. Absent for nights
   * started otherwise: the worker reads `<root>/skills/`, then the learned skills in its store.
   */
  skillHashes?: Record<string, string>;
  /**
   * sha256 of the lessons `nightshift start` rendered from the lessons list; their text is
   * in the state store, so every task of the night prompts with the same lessons. Absent
   * when there were none, or for nights started otherwise: the worker renders the list as
   * it is then.
   */
  lessonsHash?: string;
  deliverables: string[];
  acceptanceCriteria: string[];
  /** Alias or full model ID as written; resolved by common/models.ts. */
  model?: string;
  /** `agent_config.effort`; by complexity when unset (common/models.ts), sent only to models that take it. */
  effort?: Effort;
  maxTurns: number;
  maxCostUsd?: number;
  createPr: boolean;
  updateSkill?: string;
  triggerNext: string[];
  /** A plain shell command run instead of an agent (deterministic tasks, and the engine's own tests). */
  command?: string;
  /** Wall-clock limit for the whole task (time spent waiting for answers or budget not counted). */
  timeoutMs: number;
  /** How long an ask_human question waits. @default the batch's question_timeout (8h) */
  questionTimeoutMs?: number;
  /** What a question that times out does. @default 'continue' */
  onQuestionTimeout?: QuestionTimeoutPolicy;
  /** The batch's sandbox settings with this task's overrides applied. */
  sandbox: SandboxSettings;
  /** Where the task was declared, for messages that point back at the file. */
  source: { file: string; line?: number };
  /** Commands the orchestrator runs in the sandbox after `finish` (the task's, else the batch's). @default [] */
  checks?: string[];
  /** Rounds the agent gets to fix failing checks. @default 2 */
  fixAttempts?: number;
  /** Thresholds of the no-progress guard (task file `no_progress:`); unset ones take workflows/task/progress-guard.ts PROGRESS_DEFAULTS. */
  noProgress?: { repeats?: number; revisits?: number; idleTurns?: number };
  /** @default no labels or reviewers, not a draft, stacked */
  pullRequest?: PullRequestSettings;
  /** Review-first mode (a batch setting): nothing committed, a patch and the workspace left for a person. @default false */
  reviewFirst?: boolean;
  /** Pull requests per repository per night (a batch setting); later tasks deliver a branch and a patch. @default 5 */
  maxPrsPerRepo?: number;
  /**
   * Dependencies' branches that conflict when merged: `fail` the task naming the files, or
   * leave the merge in progress for the `agent` to resolve (workflows/task/delivery.ts). @default 'fail'
   */
  onMergeConflict?: MergeConflictPolicy;
  /** Simple mode: one model call that returns the files to write, no tool loop. */
  simpleMode?: boolean;
  /**
   * `model_api`: simple mode's call through the Message Batches API or the Messages API.
   * Unset: the Batches API when the task's timeout leaves time to wait for it (workflows/task/simple-task.ts).
   */
  modelApi?: 'batch' | 'messages';
  /** The repos-file name of the repo this task was expanded for (`<task>@<repoName>`). */
  repoName?: string;
  /**
   * Set on a task `nightshift followup` made from a PR's review feedback: it starts from the
   * PR's branch (`branch`), and its work is pushed to that branch (fast-forward only) and
   * reported on that PR instead of opening a new one (activities/followup/).
   */
  followUp?: FollowUpOf;
  /** Set on tasks expanded from one task over many repos: at most `maxWorkers` of them run at once. */
  fanOut?: { of: string; maxWorkers: number };
}

export interface FollowUpOf {
  /** `owner/name` on GitHub. */
  githubRepo: string;
  prNumber: number;
  prUrl: string;
  /** The PR's head branch: the task's start and where its commit goes. */
  branch: string;
  /** The head commit the feedback was read at. */
  headSha: string;
  /** How many comments, reviews and failing check runs the task was given. */
  feedbackCount: number;
}

export type MergeConflictPolicy = 'fail' | 'agent';

export interface BatchSpec {
  /** The task file or directory, relative to NIGHTSHIFT_ROOT when inside it. */
  source: string;
  /** What the batch is for (`description`). */
  description?: string;
  /** `log_file`: each worker appends the night's task events there (worker/night-log.ts). */
  logFile?: string;
  date?: string;
  maxCostUsd: number;
  /**
   * Cap on the UTC day's spend across every batch (daily_max_cost_usd; the lower of it and
   * the worker's NIGHTSHIFT_DAILY_MAX_COST_USD). @default none
   */
  dailyMaxCostUsd?: number;
  maxConcurrentAgents: number;
  questionTimeoutMs: number;
  onQuestionTimeout: QuestionTimeoutPolicy;
  notify?: NotifySettings;
  sandbox: SandboxSettings;
  tasks: TaskSpec[];
}
