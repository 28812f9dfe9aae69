/**
 * The one retry loop for the HTTP clients nightshift talks to itself (Telegram, Slack, the
 * JSON webhook): exponential backoff, the server's Retry-After honoured, and a bound on the
 * whole so a channel that stays down cannot hold up the activity or the person waiting.
 * Activities that Temporal retries do not use it: their retry policy owns backoff there.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** An HTTP answer that was not a success, with how long the server asked us to wait, if it did. */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'HttpStatusError';
  }
}

/** A Retry-After header (seconds, or an HTTP date) as milliseconds from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | null | undefined, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * How long an answer asks us to wait: its Retry-After header, or the body's
 * `parameters.retry_after` (seconds), where Telegram's flood control puts it.
 */
export function retryAfterOf(headers: Headers, body: unknown, now = Date.now()): number | undefined {
  const fromHeader = parseRetryAfter(headers.get('retry-after'), now);
  if (fromHeader !== undefined) return fromHeader;
  const seconds = (body as { parameters?: { retry_after?: unknown } } | null)?.parameters?.retry_after;
  return typeof seconds === 'number' && seconds >= 0 ? seconds * 1000 : undefined;
}

/**
 * A request the server refused for what it was (400, 401, 403, 404...) fails the same way
 * again; a timeout, a rate limit, a server error or a dropped connection may not.
 */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof HttpStatusError)) return true;
  return err.status >= 500 || err.status === 408 || err.status === 425 || err.status === 429;
}

/** Thrown when retrying stops: `attempts` tried, `cause` the last error. */
export class RetriesExhausted extends Error {
  constructor(
    readonly attempts: number,
    cause: unknown,
    why: string,
  ) {
    super(
      `${attempts} ${attempts === 1 ? 'attempt' : 'attempts'}${why}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.name = 'RetriesExhausted';
  }
}

export interface RetryOptions {
  /** Attempts in all, the first included. @default 3 */
  attempts?: number;
  /** Wait before the second attempt; doubles after. */
  firstDelayMs: number;
  /** No backoff wait is longer than this (a Retry-After may be, within `giveUpAfterMs`). @default 60000 */
  maxDelayMs?: number;
  /** Stop once this long has passed since the first attempt, or when the next wait would end past it. */
  giveUpAfterMs: number;
  /** Which errors are worth another attempt. @default isTransient */
  retryable?: (err: unknown) => boolean;
  /** Told before each wait, e.g. to say "retrying in 4s". */
  onRetry?: (err: unknown, waitMs: number, attempt: number) => void;
  /** Aborting ends a wait at once and throws the last error. */
  signal?: AbortSignal;
}

/** Runs `attempt` until it succeeds, or throws RetriesExhausted when the options say stop. */
export async function withRetries<T>(attempt: (n: number) => Promise<T>, o: RetryOptions): Promise<T> {
  const attempts = o.attempts ?? 3;
  const retryable = o.retryable ?? isTransient;
  const deadline = Date.now() + o.giveUpAfterMs;
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (o.signal?.aborted) throw err;
      if (!retryable(err) || n >= attempts) throw new RetriesExhausted(n, err, '');
      const backoff = Math.min(o.maxDelayMs ?? 60_000, o.firstDelayMs * 2 ** (n - 1));
      const asked = err instanceof HttpStatusError ? err.retryAfterMs : undefined;
      const wait = Math.max(backoff, asked ?? 0);
      if (Date.now() + wait > deadline) {
        const why =
          asked !== undefined && asked >= backoff
            ? ` (the server asked to wait ${Math.ceil(asked / 1000)}s, past the time allowed)`
            : ' (out of time)';
        throw new RetriesExhausted(n, err, why);
      }
      o.onRetry?.(err, wait, n);
      try {
        await sleep(wait, undefined, { signal: o.signal });
      } catch {
        throw err;
      }
    }
  }
}
