/**
 * Domain errors: the one home of every failure type that crosses the activity boundary.
 * Temporal matches `retry.nonRetryableErrorTypes` against an error's class name (or an
 * ApplicationFailure's type), so each name here is part of the retry contract, and the
 * histories of running nights carry them: never rename one. A class says once whether it
 * may be retried; the lists the activity profiles use are derived from that.
 */

export class NightshiftError extends Error {
  /** Whether an activity that threw it may be retried: false when the same call fails the same way. */
  static readonly retryable: boolean = true;

  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** One problem in a task file, located by file, line and field path. */
export interface SpecIssue {
  file: string;
  line?: number;
  path: string;
  message: string;
}

export function formatSpecIssue(i: SpecIssue): string {
  const where = i.line ? `${i.file}:${i.line}` : i.file;
  return i.path ? `${where} ${i.path}: ${i.message}` : `${where}: ${i.message}`;
}

/** A task file (or spec object) that is not a valid batch. Carries every issue at once. */
export class SpecError extends NightshiftError {
  static override readonly retryable = false;

  constructor(readonly issues: SpecIssue[]) {
    super(
      `${issues.length} problem${issues.length === 1 ? '' : 's'} in the task file:\n` +
        issues.map((i) => '  ' + formatSpecIssue(i)).join('\n'),
    );
  }
}

/** The agent tried something the safety policy forbids. Halts the task. */
export class PolicyViolation extends NightshiftError {
  static override readonly retryable = false;

  constructor(
    readonly rule: string,
    readonly command: string,
    detail?: string,
  ) {
    super(`policy ${rule} forbids: ${command}${detail ? ` (${detail})` : ''}`);
  }
}

/** The sandbox no longer exists; the task recreates it from its last checkpoint. */
export class SandboxGone extends NightshiftError {
  static override readonly retryable = false;
}

/** A request the model API rejected as malformed (HTTP 400): retrying cannot help. */
export class ModelRequestInvalid extends NightshiftError {
  static override readonly retryable = false;
}

/** No ANTHROPIC_API_KEY and no ANTHROPIC_BASE_URL: there is no model to call. */
export class ModelNotConfigured extends NightshiftError {
  static override readonly retryable = false;
}

/** A sandbox provider cannot be built from this config and environment. */
export class SandboxConfigError extends NightshiftError {
  static override readonly retryable = false;
}

/**
 * No token, no repository name, or GitHub refused the request for good. Retryable outside
 * delivery only because only delivery throws it (DELIVERY_NON_RETRYABLE_ERRORS).
 */
export class PullRequestFailed extends NightshiftError {}

/**
 * Failure types activities throw as an ApplicationFailure rather than a class, to carry
 * details or the non-retryable flag; the thrower and the catcher both name them from here.
 */
export const FailureType = {
  /**
   * The model API is busy or failing (429, 529, 5xx, a connection error or a malformed
   * body). Retried, after the server's retry-after (in the details) when it sent one.
   */
  ModelUnavailable: 'ModelUnavailable',
  /** A stored turn, prompt or answer an activity needs is not there: a step ran out of order. */
  TranscriptMissing: 'TranscriptMissing',
  /** The task asks for a delivery its settings cannot give (dependencies' branches without a repo). */
  DeliveryUnsupported: 'DeliveryUnsupported',
  /** A delivery step (commit, push) that failed in a way a retry may fix. */
  DeliveryFailed: 'DeliveryFailed',
  /** The dependencies' branches conflict and the task may not leave the conflict to the agent. */
  MergeConflict: 'MergeConflict',
  /** The workspace's tree is not the one the checks ran on: the task fails, nothing is committed or pushed. */
  CheckedTreeChanged: 'CheckedTreeChanged',
  /** The keep-warm call found no stored turn to repeat. */
  NoTurnToKeepWarm: 'NoTurnToKeepWarm',
} as const;

/** Every error class activities throw, in the order their names appear in retry policies. */
const ERROR_CLASSES = [
  SpecError,
  PolicyViolation,
  SandboxGone,
  ModelRequestInvalid,
  ModelNotConfigured,
  SandboxConfigError,
  PullRequestFailed,
];

/**
 * A type no code throws any more. It stays in the list because running nights scheduled
 * their activities with it and a retry policy should not change under them.
 */
const RETIRED_NON_RETRYABLE = ['BudgetExceeded'];

/** Error types Temporal must not retry, for every activity profile. */
export const NON_RETRYABLE_ERRORS: string[] = [
  ...ERROR_CLASSES.filter((c) => !c.retryable).map((c) => c.name),
  ...RETIRED_NON_RETRYABLE,
];

/** Delivery's refusals on top: the same commit, merge or pull request fails the same way again. */
export const DELIVERY_NON_RETRYABLE_ERRORS: string[] = [
  ...NON_RETRYABLE_ERRORS,
  PullRequestFailed.name,
  FailureType.MergeConflict,
  FailureType.DeliveryUnsupported,
  FailureType.CheckedTreeChanged,
];
