/**
 * The Anthropic client and what its errors mean to Temporal. The SDK retries once at most
 * (it honours retry-after itself); after that the activity retry policy owns backoff, so
 * retries never multiply (style.md, 10). Streamed calls whose attempts the workflow books
 * (metered.ts) are not retried by the SDK at all.
 */
import Anthropic from '@anthropic-ai/sdk';
import { ApplicationFailure } from '@temporalio/common';
import type { NightshiftConfig } from '../../common/config';
import { FailureType, ModelNotConfigured, ModelRequestInvalid } from '../../common/errors';
import { MODEL_CALL_INTERRUPTED, type CallProgress } from '../../workflows/budget/arithmetic';

export interface ModelClientOptions {
  /** Retries inside the SDK before the activity policy takes over. @default 1 */
  maxRetries?: number;
  /** Per-request timeout. @default 600000 (10 minutes) */
  timeoutMs?: number;
}

/**
 * Built from the one config module: ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL (proxies,
 * Anthropic-compatible local servers, the offline replay model). Undefined when neither
 * is set; callModel then fails with ModelNotConfigured rather than sending an unsigned request.
 */
export function createAnthropicClient(
  config: Pick<NightshiftConfig, 'anthropic'>,
  o: ModelClientOptions = {},
): Anthropic | undefined {
  const { apiKey, baseUrl } = config.anthropic;
  if (!apiKey && !baseUrl) return undefined;
  return new Anthropic({
    // A local server behind ANTHROPIC_BASE_URL may need no key; the SDK still wants one.
    apiKey: apiKey ?? 'no-key',
    baseURL: baseUrl,
    maxRetries: o.maxRetries ?? 1,
    timeout: o.timeoutMs ?? 600_000,
  });
}

export function notConfigured(): ModelNotConfigured {
  return new ModelNotConfigured(
    'no model configured: set ANTHROPIC_API_KEY (or ANTHROPIC_BASE_URL for a compatible server, or run the demo, which uses the offline replay model)',
  );
}

/** Milliseconds the server asked us to wait, from retry-after-ms or retry-after (seconds or a date). */
export function retryAfterMs(headers: Headers | undefined, now = Date.now()): number | undefined {
  const ms = Number(headers?.get('retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return ms;
  const v = headers?.get('retry-after');
  if (!v) return undefined;
  const s = Number(v);
  if (Number.isFinite(s)) return s >= 0 ? s * 1000 : undefined;
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/** Longest wait we take from a retry-after header; a larger one is clamped, not obeyed blindly. */
const MAX_RETRY_AFTER_MS = 10 * 60_000;

/**
 * Maps an SDK error to what the activity should throw:
 * 400/404/413/422 → ModelRequestInvalid (not retried: the same request fails the same way);
 * 401/403 → ModelNotConfigured; 408/409/429/5xx/529 and connection errors → a retryable
 * `ModelUnavailable` failure whose next attempt waits for retry-after when one was sent.
 */
export function toActivityError(err: unknown): Error {
  if (err instanceof Anthropic.APIUserAbortError) return err;
  if (err instanceof Anthropic.APIError && err.status !== undefined) {
    const detail = err.apiMessage ?? err.message;
    const status = err.status;
    // The API's answer to a model ID it does not have: say so plainly, since a night of retries cannot fix it.
    // (A 404 for a wrong path or base URL is also not_found_error, but does not name a model.)
    if (
      status === 404 &&
      (err.error as { error?: { type?: string } } | undefined)?.error?.type === 'not_found_error' &&
      /\bmodel\b/i.test(detail)
    ) {
      return new ModelRequestInvalid(
        `the model API does not know this model (HTTP 404 not_found_error: ${detail}); check the task's agent_config.model against \`nightshift models\``,
      );
    }
    if ([400, 404, 413, 422].includes(status))
      return new ModelRequestInvalid(`the model API rejected the request (HTTP ${status}): ${detail}`);
    if (status === 401 || status === 403)
      return new ModelNotConfigured(`the model API refused the credentials (HTTP ${status}): ${detail}`);
    const wait = retryAfterMs(err.headers);
    return ApplicationFailure.create({
      type: FailureType.ModelUnavailable,
      message: `the model API is unavailable (HTTP ${status}${wait !== undefined ? `, retry after ${Math.round(wait)} ms` : ''}): ${detail}`,
      nextRetryDelay: wait !== undefined ? Math.min(wait, MAX_RETRY_AFTER_MS) : undefined,
      // Also as a detail: a workflow that owns the retries (the agent loop) does not receive nextRetryDelay.
      details: wait !== undefined ? [{ retryAfterMs: Math.min(wait, MAX_RETRY_AFTER_MS) }] : undefined,
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return ApplicationFailure.create({ type: FailureType.ModelUnavailable, message: `model call failed: ${message}` });
}

/** Errors whose request never left this host: refused or unresolvable, so never billed. */
const NOT_SENT_CODES = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN'];

function neverSent(err: unknown): boolean {
  for (
    let e: unknown = err, depth = 0;
    e && typeof e === 'object' && depth < 5;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    if (NOT_SENT_CODES.includes(String((e as { code?: unknown }).code))) return true;
  }
  return false;
}

/**
 * Maps an error of a streamed call, whose attempt the workflow books: an HTTP error
 * status (the API refused the request, nothing billed) or a request that never left
 * is what toActivityError says; anything else (a dropped connection, a cut or malformed
 * stream, an abort, a timeout) may have been billed, and fails as ModelCallInterrupted
 * carrying what the stream had shown of its usage.
 */
export function toStreamedCallError(err: unknown, progress: CallProgress): Error {
  if ((err instanceof Anthropic.APIError && err.status !== undefined) || neverSent(err)) return toActivityError(err);
  const message = err instanceof Error ? err.message : String(err);
  return ApplicationFailure.create({
    type: MODEL_CALL_INTERRUPTED,
    message: `the model call was cut off after it may have reached the API (${progress.usage ? 'its input usage is known' : 'nothing of its usage is known'}): ${message}`,
    details: [progress],
  });
}

/** The SDK parses JSON for us, but a proxy can still hand back something that is not a message. */
export function assertMessage(m: unknown): asserts m is Anthropic.Message {
  const v = m as Partial<Anthropic.Message> | null;
  if (
    !v ||
    typeof v !== 'object' ||
    v.type !== 'message' ||
    !Array.isArray(v.content) ||
    typeof v.usage !== 'object' ||
    v.usage === null
  ) {
    throw ApplicationFailure.create({
      type: FailureType.ModelUnavailable,
      message: `the model API returned a malformed response: ${JSON.stringify(m)?.slice(0, 200) ?? String(m)}`,
    });
  }
}
