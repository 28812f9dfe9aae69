/**
 * A scripted Messages API on loopback that the real @anthropic-ai/sdk talks to. It records
 * every request and fails loudly (HTTP 400, which the agent loop does not retry, and a
 * flag the test checks) when its script runs out or a request is not one the API accepts.
 *
 * It bills as the API does: every request it accepts (answers 200) is billed at the whole
 * answer's usage the moment it is accepted, whether or not the client stays to read the
 * answer (a worker killed mid-stream is still billed). The bill is `fake.billing()`, and
 * GET /_billing on the server.
 */
import { costOf, priceOf, worstCasePrice } from '../../common/models';
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
      model: o.model ?? 'claude-sonnet-4-5-20250929',
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

/** One accepted request as the API would bill it. */
export interface BilledRequest {
  model: string;
  usage: { input: number; output: number; cacheWrite: number; cacheRead: number };
  costUsd: number;
  /** Epoch ms when it was accepted. */
  at: number;
}

export interface Billing {
  requests: number;
  costUsd: number;
  billed: BilledRequest[];
}

export interface FakeAnthropic {
  url: string;
  requests: MessagesRequest[];
  /** Set when a request arrived after the script ran out, or was not one the API accepts. */
  exhausted?: string;
  /** How many requests asked for each turn. */
  turnCounts(): Map<number, number>;
  /** What the API would have billed so far. */
  billing(): Billing;
  /** Answers still being written (or, not streamed, still being slowly prepared). */
  inFlight(): number;
  close(): Promise<void>;
}

export interface FakeOptions {
  /** Replies in order, one per request. */
  script?: MessagesReply[];
  /** Or: the reply for a turn (a repeated request for the same turn gets the same reply). */
  byTurn?: (turn: number, req: MessagesRequest) => MessagesReply | undefined | Promise<MessagesReply | undefined>;
  /** Streamed answers wait this long between events, like a slow model. */
  streamDelayMs?: number;
}

/** What the API rejects with 400 before billing anything; undefined when the request is well formed. */
export function invalidRequest(body: MessagesRequest['body']): string | undefined {
  if (typeof body.model !== 'string' || !body.model) return 'model: Field required';
  if (!Number.isInteger(body.max_tokens) || (body.max_tokens as number) < 1) return 'max_tokens: must be a positive integer';
  if (!Array.isArray(body.messages) || body.messages.length === 0) return 'messages: at least one message is required';
  if (body.messages[0].role !== 'user') return 'messages: first message must use the "user" role';
  if (body.stream !== undefined && typeof body.stream !== 'boolean') return 'stream: must be a boolean';
  return undefined;
}

/** What the API bills for an accepted request: its answer's usage. A malformed body (a broken proxy's, not the API's) has none to bill. */
function billOf(reply: MessagesReply, body: MessagesRequest['body']): BilledRequest | undefined {
  const u = (reply.json as { usage?: Partial<Usage> } | undefined)?.usage;
  if (!u) return undefined;
  const usage = { input: u.input_tokens ?? 0, output: u.output_tokens ?? 0, cacheWrite: u.cache_creation_input_tokens ?? 0, cacheRead: u.cache_read_input_tokens ?? 0 };
  const model = String(body.model);
  return { model, usage, costUsd: costOf(usage, priceOf(model) ?? worstCasePrice()), at: Date.now() };
}

export async function startFakeAnthropic(o: FakeOptions): Promise<FakeAnthropic> {
  const script = [...(o.script ?? [])];
  const fake: Partial<FakeAnthropic> & { requests: MessagesRequest[] } = { requests: [] };
  const billed: BilledRequest[] = [];
  let streaming = 0;
  const billing = (): Billing => ({ requests: billed.length, costUsd: billed.reduce((a, b) => a + Math.round(b.costUsd * 1e9), 0) / 1e9, billed: [...billed] });
  const server = await serveMessages(
    async (req) => {
      fake.requests.push(req);
      const invalid = invalidRequest(req.body);
      if (invalid) {
        fake.exhausted = `invalid request ${fake.requests.length}: ${invalid}`;
        return apiError(400, 'invalid_request_error', invalid);
      }
      const reply = o.byTurn ? await o.byTurn(req.turn, req) : script.shift();
      if (!reply) {
        fake.exhausted = `no more scripted responses (request ${fake.requests.length}, turn ${req.turn})`;
        return apiError(400, 'invalid_request_error', `fake anthropic server: ${fake.exhausted}`);
      }
      // Accepted: billed now, however the answer's delivery goes.
      const bill = reply.status === 200 && !reply.hang ? billOf(reply, req.body) : undefined;
      if (bill) billed.push(bill);
      return o.streamDelayMs && reply.status === 200 ? { ...reply, streamDelayMs: reply.streamDelayMs ?? o.streamDelayMs } : reply;
    },
    { get: (url) => (url === '/_billing' ? billing() : undefined), streaming: (d) => (streaming += d) },
  );
  return Object.assign(fake, {
    url: server.url,
    close: server.close,
    billing,
    inFlight: () => streaming,
    turnCounts() {
      const m = new Map<number, number>();
      for (const r of fake.requests) m.set(r.turn, (m.get(r.turn) ?? 0) + 1);
      return m;
    },
  }) as FakeAnthropic;
}
