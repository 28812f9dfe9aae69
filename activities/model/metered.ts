/**
 * One Messages API call the way every activity makes it: under the caller's cancellation
 * (heartbeating while it waits, inside an activity), API errors turned into activity errors
 * (retryable or not, see client.ts), the answer checked, and its cost metered from usage.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { costOf, priceOf, worstCasePrice } from '../../common/models';
import type { TokenUsage } from '../../workflows/contract';
import { assertMessage, toActivityError } from './client';

export function usageOf(u: Anthropic.Usage): TokenUsage {
  return { input: u.input_tokens ?? 0, output: u.output_tokens ?? 0, cacheWrite: u.cache_creation_input_tokens ?? 0, cacheRead: u.cache_read_input_tokens ?? 0 };
}

/** The offline replay model names itself `replay:<recording>` in the response's model field. */
export const isReplayModel = (model: string) => model.startsWith('replay');

export interface MeteredMessage {
  msg: Anthropic.Message;
  /** The model that answered (a dated snapshot, or `replay:<recording>`). */
  model: string;
  usage: TokenUsage;
  costUsd: number;
  /** The model was missing from the price table and was charged at the dearest row. */
  costEstimated: boolean;
  /** The offline replay model answered: nothing was spent. */
  replay: boolean;
}

export async function createMeteredMessage(
  anthropic: Anthropic,
  params: Anthropic.MessageCreateParamsNonStreaming,
  o: { signal?: AbortSignal; heartbeat?: { beat: () => void; everyMs: number } } = {},
): Promise<MeteredMessage> {
  const timer = o.heartbeat ? setInterval(o.heartbeat.beat, o.heartbeat.everyMs) : undefined;
  let msg: Anthropic.Message;
  try {
    msg = await anthropic.messages.create(params, { signal: o.signal });
  } catch (err) {
    throw toActivityError(err);
  } finally {
    clearInterval(timer);
  }
  assertMessage(msg);
  const usage = usageOf(msg.usage);
  const replay = isReplayModel(msg.model ?? '');
  // Priced as the model asked for, which is what the budget reserved against.
  const price = priceOf(params.model);
  return {
    msg,
    model: msg.model ?? params.model,
    usage,
    replay,
    // A model missing from the table is charged at the dearest row: never taken as free.
    // 1-hour cache writes cost more than 5-minute ones; the usage says how many there were.
    costUsd: replay ? 0 : costOf({ ...usage, cacheWrite1h: msg.usage.cache_creation?.ephemeral_1h_input_tokens ?? 0 }, price ?? worstCasePrice()),
    costEstimated: !replay && price === undefined,
  };
}
