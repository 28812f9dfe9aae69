/**
 * Domain errors. Temporal matches `retry.nonRetryableErrorTypes` against an error's class
 * name, so each class name here is part of the retry contract: list the non-retryable ones
 * once, in NON_RETRYABLE_ERRORS, and every activity proxy uses that list.
 */

export class NightshiftError extends Error {
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
  constructor(readonly issues: SpecIssue[]) {
    super(
      `${issues.length} problem${issues.length === 1 ? '' : 's'} in the task file:\n` +
        issues.map((i) => '  ' + formatSpecIssue(i)).join('\n'),
    );
  }
}

/** A reservation the budget cannot cover, or a cost that cannot be known. */
export class BudgetExceeded extends NightshiftError {}

/** The agent tried something the safety policy forbids. Halts the task. */
export class PolicyViolation extends NightshiftError {
  constructor(
    readonly rule: string,
    readonly command: string,
    detail?: string,
  ) {
    super(`policy ${rule} forbids: ${command}${detail ? ` (${detail})` : ''}`);
  }
}

/** The sandbox no longer exists; the task recreates it from its last checkpoint. */
export class SandboxGone extends NightshiftError {}

/** A request the model API rejected as malformed (HTTP 400): retrying cannot help. */
export class ModelRequestInvalid extends NightshiftError {}

/**
 * The model API is busy or failing (429, 529, 5xx, a connection error or a malformed
 * body). Retried by the activity policy, after the server's retry-after when it sent one.
 */
export class ModelUnavailable extends NightshiftError {}

/** No ANTHROPIC_API_KEY and no ANTHROPIC_BASE_URL: there is no model to call. */
export class ModelNotConfigured extends NightshiftError {}

/**
 * The failure type of a delivery refused because the workspace's tree is not the one the
 * checks ran on: the task fails, nothing is committed or pushed.
 */
export const CHECKED_TREE_CHANGED = 'CheckedTreeChanged';

/** Error class names Temporal must not retry. */
export const NON_RETRYABLE_ERRORS = [
  'SpecError',
  'BudgetExceeded',
  'PolicyViolation',
  'SandboxGone',
  'ModelRequestInvalid',
  'ModelNotConfigured',
  'SandboxConfigError',
];
