/**
 * Heartbeats for activities whose work may outlast a few seconds. The server notices a dead
 * worker only by missing beats (workflows/activity-profiles.ts sets the timeouts), so every
 * such activity beats on a timer for as long as its work runs.
 */
import { Context } from '@temporalio/activity';

/** Often enough that a live worker never misses its heartbeat timeout. */
export function heartbeatEvery(ctx: Context, maxMs = 5000): number {
  const timeout = ctx.info.heartbeatTimeoutMs;
  return Math.max(100, Math.min(maxMs, timeout ? Math.floor(timeout / 3) : maxMs));
}

/** The running activity's context, or none when the function is called outside one (unit tests). */
function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** Runs `work`, beating (with `details()` when given) until it settles. */
export async function whileBeating<T>(work: () => Promise<T>, details?: () => unknown): Promise<T> {
  const ctx = currentContext();
  if (!ctx) return work();
  const beat = () => ctx.heartbeat(details?.());
  beat();
  const timer = setInterval(beat, heartbeatEvery(ctx));
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

type AsyncFn = (...args: never[]) => Promise<unknown>;

/** `activities` with the functions named in `names` beating for as long as each call runs. */
export function withHeartbeats<T extends Record<string, AsyncFn>, K extends keyof T>(
  activities: T,
  names: readonly K[],
): T {
  const out = { ...activities };
  for (const name of names) {
    const fn = activities[name];
    out[name] = ((...args: Parameters<T[K]>) => whileBeating(() => fn(...args))) as T[K];
  }
  return out;
}
