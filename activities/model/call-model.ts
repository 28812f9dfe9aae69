/**
 * callModel: one model turn as one activity. Reads the transcript from the store, sends
 * it, stores the response under the turn's key, and returns only what the workflow needs
 * to decide (stop reason, tool calls, usage, cost, a little text): the transcript never
 * enters workflow history.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { Context } from '@temporalio/activity';
import { heartbeatEvery } from '../heartbeat';
import { ApplicationFailure } from '@temporalio/common';
import { CACHE_TTL_5M_MS, priceOf, worstCasePrice, type Effort } from '../../common/models';
import { MODEL_CALL_INTERRUPTED, type CallProgress } from '../../workflows/budget/arithmetic';
import type { TokenUsage } from '../../contract';
import { summarizeToolInput } from '../task/tools';
import { oneLine } from '../task/tools/truncate';
import {
  getJson,
  keys,
  loadConversation,
  putJsonOnce,
  type TranscriptStore,
  type TurnRecord,
} from '../task/transcripts';
import { notConfigured } from './client';
import { createMeteredMessage } from './metered';
export { isReplayModel, usageOf } from './metered';
import { effortParams, elideThrough, fitContext, withCacheBreakpoints } from './request';
import { FailureType } from '../../common/errors';

export interface CallModelInput {
  workflowId: string;
  /** 1-based; the store key. */
  turn: number;
  /** Full model ID (resolved by the workflow from alias or complexity). */
  model: string;
  /** @default 8192 */
  maxTokens?: number;
  /** Sent as `output_config.effort` to models that take it (common/models.json), dropped for the others. */
  effort?: Effort;
  /**
   * The workflow's attempt number, when the workflow owns the retries and books each
   * attempt (callWithBookedAttempts, workflows/budget/task-side.ts): the call is then streamed
   * and heartbeats its usage.
   */
  attempt?: number;
  /**
   * The TTL the workflow chose for this call's cache breakpoints (it knows when the cache was
   * last touched, keep-alives included). Absent in histories from before the choice moved there:
   * the activity then judges by the gap since the previous answer.
   */
  cacheTtl?: '5m' | '1h';
}

/** keepCacheWarm: touch the cache turn `turn`'s request wrote, so it outlives a long wait. */
export interface KeepCacheWarmInput {
  workflowId: string;
  /** The turn whose request is sent again. */
  turn: number;
  /** Which keep-alive of this wait this is (1-based): a retry of the same one is answered from the store. */
  seq: number;
  model: string;
  effort?: Effort;
}

export interface CacheKeptWarm {
  usage: TokenUsage;
  costUsd: number;
  costEstimated: boolean;
}

export interface ToolCallSummary {
  id: string;
  name: string;
  /** e.g. `src/a.ts (1200 chars)`: never the whole input. */
  summary: string;
}

/** What the workflow decides with. Small by construction: this is what history holds. */
export interface ModelTurn {
  turn: number;
  stopReason: string | null;
  /** The model's words this turn, cut to 300 characters. */
  text: string;
  toolCalls: ToolCallSummary[];
  /** Present when the model called finish. */
  finish?: { summary: string; verification: string };
  usage: TokenUsage;
  costUsd: number;
  costEstimated: boolean;
  model: string;
  replay: boolean;
  contextTokens: number;
  /** The attempt whose answer this is: an earlier one than asked when that one's answer was stored but never reported. */
  attempt?: number;
}

export interface ModelActivityDeps {
  anthropic: Anthropic | undefined;
  transcripts: TranscriptStore;
  /** Longest gap between heartbeats while waiting for the API (a third of the heartbeat timeout when that is shorter). @default 5000 */
  heartbeatMs?: number;
  /** The clock the cache's lifetime is judged by (bench/cost.ts runs a virtual one). @default Date.now */
  now?: () => number;
}

const FINISH_TEXT_CHARS = 2000;

export function summarizeTurn(rec: TurnRecord): ModelTurn {
  const uses = rec.content.filter((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
  const text = rec.content
    .filter((b): b is Anthropic.TextBlock => b.type === 'text')
    .map((b) => b.text)
    .join(' ');
  const fin = uses.find((u) => u.name === 'finish');
  const fi = (fin?.input ?? {}) as Record<string, unknown>;
  const cap = (v: unknown) =>
    typeof v === 'string' ? (v.length > FINISH_TEXT_CHARS ? v.slice(0, FINISH_TEXT_CHARS - 1) + '…' : v) : '';
  return {
    turn: rec.turn,
    stopReason: rec.stopReason,
    text: oneLine(text, 300),
    toolCalls: uses.map((u) => ({
      id: u.id,
      name: u.name,
      summary: summarizeToolInput(u.name, (u.input ?? {}) as Record<string, unknown>),
    })),
    ...(fin ? { finish: { summary: cap(fi.summary), verification: cap(fi.verification) } } : {}),
    usage: rec.usage,
    costUsd: rec.costUsd,
    costEstimated: rec.costEstimated,
    model: rec.model,
    replay: rec.replay,
    contextTokens: rec.contextTokens,
    ...(rec.attempt !== undefined ? { attempt: rec.attempt } : {}),
  };
}

export function createModelActivities(deps: ModelActivityDeps) {
  const store = deps.transcripts;
  const now = deps.now ?? Date.now;
  return {
    async callModel(input: CallModelInput): Promise<ModelTurn> {
      const { workflowId, turn, model } = input;
      // The activity finished before but the worker died before reporting it: answer from
      // the store, so the API is not called (and paid) twice for the same turn.
      const stored = await getJson<TurnRecord>(store, workflowId, keys.turn(turn));
      if (stored) return summarizeTurn(stored);
      if (!deps.anthropic) throw notConfigured();

      const maxTokens = input.maxTokens ?? 8192;
      const price = priceOf(model);
      const { prompt, messages, last } = await loadConversation(store, workflowId, turn);
      const fit = fitContext(
        messages,
        prompt.system,
        last?.contextTokens ?? 0,
        { contextWindow: price?.contextWindow ?? worstCasePrice().contextWindow, maxTokens },
        last?.elidedThroughTurn ?? 0,
      );
      // After one wait longer than the cache lives (a long test run, a question), the task's
      // turns are written to the cache for an hour: the next such wait then reads instead of rewriting.
      const longTtl =
        input.cacheTtl !== undefined
          ? input.cacheTtl === '1h'
          : last?.cacheTtl === '1h' || (last?.respondedAt !== undefined && now() - last.respondedAt > CACHE_TTL_5M_MS);
      const req = withCacheBreakpoints(prompt.system, messages, { ttl: longTtl ? '1h' : '5m' });

      const ctx = Context.current();
      const attempt = input.attempt;
      let progress: CallProgress = {};
      const beat = () => ctx.heartbeat(attempt !== undefined ? { turn, attempt, ...progress } : { turn });
      const m = await createMeteredMessage(
        deps.anthropic,
        { model, max_tokens: maxTokens, ...req, ...effortParams(model, input.effort) },
        {
          signal: ctx.cancellationSignal,
          heartbeat: { beat, everyMs: heartbeatEvery(ctx, deps.heartbeatMs) },
          ...(attempt !== undefined
            ? {
                progress: (p: CallProgress) => {
                  progress = p;
                  beat();
                },
              }
            : {}),
        },
      );
      const { msg, usage } = m;
      const rec: TurnRecord = {
        turn,
        model: m.model,
        replay: m.replay,
        stopReason: msg.stop_reason,
        content: msg.content,
        usage,
        costUsd: m.costUsd,
        costEstimated: m.costEstimated,
        contextTokens: usage.input + usage.cacheRead + usage.cacheWrite,
        ...(fit.elidedThroughTurn ? { elidedThroughTurn: fit.elidedThroughTurn } : {}),
        respondedAt: now(),
        ...(longTtl ? { cacheTtl: '1h' as const } : {}),
        ...(attempt !== undefined ? { attempt } : {}),
      };
      let kept: TurnRecord;
      try {
        // A second writer (an attempt whose first one was thought lost) keeps the first answer, the one history may already hold.
        kept = await putJsonOnce(store, workflowId, keys.turn(turn), rec);
      } catch (err) {
        // The answer was billed but is lost: the workflow must book it before it asks again.
        if (attempt === undefined) throw err;
        throw ApplicationFailure.create({
          type: MODEL_CALL_INTERRUPTED,
          message: `the answer could not be stored: ${(err as Error).message}`,
          details: [{ usage, complete: true } satisfies CallProgress],
        });
      }
      return summarizeTurn(kept);
    },

    /**
     * Sends turn `turn`'s request again, byte for byte up to its last breakpoint, with
     * max_tokens 1: the API reads the cached prefix (a tenth of the input rate) and restarts
     * its five minutes, so a tool call or a wait longer than that does not cost a rewrite of
     * the whole conversation. The answer (one token) is thrown away; its bill is stored under
     * the keep-alive's key, so a retried activity does not pay twice.
     */
    async keepCacheWarm(input: KeepCacheWarmInput): Promise<CacheKeptWarm> {
      const { workflowId, turn, model } = input;
      const key = keys.keepAlive(turn, input.seq);
      const done = await getJson<CacheKeptWarm>(store, workflowId, key);
      if (done) return done;
      if (!deps.anthropic) throw notConfigured();
      const rec = await getJson<TurnRecord>(store, workflowId, keys.turn(turn));
      if (!rec)
        throw ApplicationFailure.nonRetryable(
          `turn ${turn} of ${workflowId} has no stored answer: there is no request to keep warm`,
          FailureType.NoTurnToKeepWarm,
        );
      const { prompt, messages } = await loadConversation(store, workflowId, turn);
      // What fitContext elided for that request, from the same stored records: the same bytes.
      elideThrough(messages, rec.elidedThroughTurn ?? 0);
      const req = withCacheBreakpoints(prompt.system, messages, { ttl: rec.cacheTtl ?? '5m' });
      const ctx = Context.current();
      const m = await createMeteredMessage(
        deps.anthropic,
        { model, max_tokens: 1, ...req, ...effortParams(model, input.effort) },
        {
          signal: ctx.cancellationSignal,
          heartbeat: {
            beat: () => ctx.heartbeat({ turn, keepAlive: input.seq }),
            everyMs: heartbeatEvery(ctx, deps.heartbeatMs),
          },
        },
      );
      return putJsonOnce<CacheKeptWarm>(store, workflowId, key, {
        usage: m.usage,
        costUsd: m.costUsd,
        costEstimated: m.costEstimated,
      });
    },
  };
}
