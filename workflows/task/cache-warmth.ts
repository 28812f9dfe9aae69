/**
 * Keeping the prompt cache warm across a long tool call, a question wait or a checks run
 * (issue 16). A cache entry lives five minutes from its last read; a wait longer than that
 * makes the next call rewrite the whole conversation at the write rate. A keep-alive (the
 * last request sent again with max_tokens 1, activities/model/call-model.ts keepCacheWarm)
 * reads the prefix at a tenth of the input rate and restarts the five minutes. Pure
 * functions, shared by the agent loop and bench/cost.ts so the bench prices what the loop does.
 *
 * Deterministic code only.
 */
import { CACHE_TTL_5M_MS, type ModelPrice } from '../../common/models';

/** patched() ID of the agent loop that keeps the cache warm and chooses each call's cache TTL itself. */
export const CACHE_KEPT_WARM_PATCH = 'cache-kept-warm-during-waits';

/**
 * A keep-alive goes out this long after the cache was last touched (a model call's or a
 * keep-alive's start): a minute before the entry expires, for the activity to be picked up
 * and the request to reach the API.
 */
export function keepAliveAfterMs(lifetimeMs: number = CACHE_TTL_5M_MS): number {
  return lifetimeMs * 0.8;
}

/**
 * A call this long after the cache was last touched finds it gone (or nearly: judged with
 * half a minute to spare), so it writes its prefix for an hour, and so do the task's later
 * calls: its waits outlive what keep-alives cover.
 */
export function cacheGoneAfterMs(lifetimeMs: number = CACHE_TTL_5M_MS): number {
  return lifetimeMs * 0.9;
}

/**
 * Whether one more keep-alive in the same wait is worth sending: each costs a read of the
 * whole prefix, and what they save is one rewrite of it at the 5-minute write rate. Past the
 * point where the keep-alives together would cost as much as that rewrite (12 of them, about
 * 48 minutes, at a tenth and 1.25 times the input rate), letting the cache go is cheaper.
 */
export function keepAliveWorthIt(sentInThisWait: number, price: Pick<ModelPrice, 'cacheRead' | 'cacheWrite'>): boolean {
  return (sentInThisWait + 1) * price.cacheRead < price.cacheWrite;
}
