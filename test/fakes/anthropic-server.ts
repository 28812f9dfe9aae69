/**
 * A scripted Messages API on loopback that the real @anthropic-ai/sdk talks to. It records
 * every request and fails loudly (HTTP 400, which the agent loop does not retry, and a
 * flag the test checks) when its script runs out.
 */
import { apiError, serveMessages, type MessagesReply, type MessagesRequest } from '../../activities/model/messages-server';

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
}

export type Block = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

export const text = (t: string): Block => ({ type: 'text', text: t });
export const toolUse = (id: string, name: string, input: Record<string, unknown>): Block => ({ type: 'tool_use', id, name, input });

/** A 200 reply holding one assistant message. */
export function message(content: Block[], o: { usage?: Usage; stopReason?: string; model?: string } = {}): MessagesReply {
  return {
    status: 200,
    json: {
      id: `msg_${Math.random().toString(36).slice(2)}`,
      type: 'message',
      role: 'assistant',
      model: o.model ?? 'claude-sonnet-5-5',
      content,
      stop_reason: o.stopReason ?? (content.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn'),
      stop_sequence: null,
      usage: { input_tokens: 100, output_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, ...o.usage },
    },
  };
}

export const rateLimited = (retryAfterSeconds: number) => apiError(429, 'rate_limit_error', 'slow down', { 'retry-after': String(retryAfterSeconds) });
export const overloaded = () => apiError(529, 'overloaded_error', 'Overloaded');
export const badRequest = (msg = 'prompt is too long: 210000 tokens > 200000 maximum') => apiError(400, 'invalid_request_error', msg);
export const malformed = (): MessagesReply => ({ status: 200, raw: '{"type":"message","content":[{"type":"te' });

export interface FakeAnthropic {
  url: string;
  requests: MessagesRequest[];
  /** Set when a request arrived after the script ran out. */
  exhausted?: string;
  /** How many requests asked for each turn. */
  turnCounts(): Map<number, number>;
  close(): Promise<void>;
}

export interface FakeOptions {
  /** Replies in order, one per request. */
  script?: MessagesReply[];
  /** Or: the reply for a turn (a repeated request for the same turn gets the same reply). */
  byTurn?: (turn: number, req: MessagesRequest) => MessagesReply | undefined | Promise<MessagesReply | undefined>;
}

export async function startFakeAnthropic(o: FakeOptions): Promise<FakeAnthropic> {
  const script = [...(o.script ?? [])];
  const fake: Partial<FakeAnthropic> & { requests: MessagesRequest[] } = { requests: [] };
  const server = await serveMessages(async (req) => {
    fake.requests.push(req);
    const reply = o.byTurn ? await o.byTurn(req.turn, req) : script.shift();
    if (!reply) {
      fake.exhausted = `no more scripted responses (request ${fake.requests.length}, turn ${req.turn})`;
      return apiError(400, 'invalid_request_error', `fake anthropic server: ${fake.exhausted}`);
    }
    return reply;
  });
  return Object.assign(fake, {
    url: server.url,
    close: server.close,
    turnCounts() {
      const m = new Map<number, number>();
      for (const r of fake.requests) m.set(r.turn, (m.get(r.turn) ?? 0) + 1);
      return m;
    },
  }) as FakeAnthropic;
}
