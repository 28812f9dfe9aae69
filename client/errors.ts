/** CLI failures carry their exit code, so scripts can tell a bad file from a down server. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  invalidSpec: 3,
  unavailable: 4,
  notFound: 5,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/**
 * What a user should read from a failed workflow result or update: the SDK wraps the
 * workflow's own failure (WorkflowFailedError, WorkflowUpdateFailedError) and keeps it as
 * the cause, whose message is the one the workflow wrote.
 */
export function failureMessage(err: unknown): string {
  const cause = err instanceof Error ? err.cause : undefined;
  if (cause instanceof Error) return cause.message;
  return err instanceof Error ? err.message : String(err);
}
