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
