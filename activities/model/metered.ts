/**
 * One Messages API call the way every activity makes it: under the caller's cancellation
 * (heartbeating while it waits, inside an activity), API errors turned into activity errors
 * (retryable or not, see client.ts), the answer checked, and its cost metered from usage.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { costOf, priceOf, worstCasePrice } from '../../common/models';
import type { TokenUsage } from '../../contract';
import type { CallProgress } from '../../workflows/budget/arithmetic';
import { assertMessage, toActivityError, toStreamedCallError } from './client';

export function usageOf(u: Anthropic.Usage): TokenUsage {
  return {
    input: u.input_tokens ?? 0,
    output: u.output_tokens ?? 0,
    cacheWrite: u.cache_creation_input_tokens ?? 0,
    cacheRead: u.cache_read_input_tokens ?? 0,
  };
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

/**
 * With `progress`, the call is streamed and `progress` hears its usage as it becomes known
 * (message_start, message_delta, message_stop), so a caller that dies mid-answer has told
 * its workflow what was billed; the SDK does not retry it (the workflow books every attempt
 * that may have reached the API, so a hidden second attempt would go unbooked), and an
 * error that may have been billed fails as ModelCallInterrupted (client.ts).
 */
export async function createMeteredMessage(
  anthropic: Anthropic,
  params: Anthropic.MessageCreateParamsNonStreaming,
  o: {
    signal?: AbortSignal;
    heartbeat?: { beat: () => void; everyMs: number };
    progress?: (p: CallProgress) => void;
  } = {},
): Promise<MeteredMessage> {
  const timer = o.heartbeat ? setInterval(o.heartbeat.beat, o.heartbeat.everyMs) : undefined;
  let msg: Anthropic.Message;
  let seen: CallProgress = {};
  try {
    if (o.progress) {
      const report = o.progress;
      const stream = anthropic.messages.stream(params, { signal: o.signal, maxRetries: 0 });
      stream.on('streamEvent', (event, snapshot) => {
        if (event.type !== 'message_start' && event.type !== 'message_delta' && event.type !== 'message_stop') return;
        seen = { usage: usageOf(snapshot.usage), complete: event.type === 'message_stop' };
        report(seen);
      });
      msg = await stream.finalMessage();
    } else {
      msg = await anthropic.messages.create(params, { signal: o.signal });
    }
  } catch (err) {
    throw o.progress ? toStreamedCallError(err, seen) : toActivityError(err);
  } finally {
    clearInterval(timer);
  }
  try {
    assertMessage(msg);
  } catch (err) {
    // A malformed 200 was still billed: under a workflow that books attempts, say what is known.
    if (o.progress) throw toStreamedCallError(err, seen);
    throw err;
  }
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
    costUsd: replay
      ? 0
      : costOf(
          { ...usage, cacheWrite1h: msg.usage.cache_creation?.ephemeral_1h_input_tokens ?? 0 },
          price ?? worstCasePrice(),
        ),
    costEstimated: !replay && price === undefined,
  };
}
