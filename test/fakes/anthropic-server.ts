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
import { createHash } from 'node:crypto';
import { apiError, serveMessages, type MessagesReply, type MessagesRequest } from '../../activities/model/messages-server';
import { costOf, modelEntry, modelTable, priceOf, worstCasePrice } from '../../common/models';

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
  /** The cache writes split by TTL, as the API reports them. */
  cache_creation?: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
}

export type Block =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }
  | { type: 'thinking'; thinking: string; signature: string };

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
/** What the API answers for a model ID it does not have. */
export const modelNotFound = (model: string) => apiError(404, 'not_found_error', `model: ${model}`);
export const malformed = (): MessagesReply => ({ status: 200, raw: '{"type":"message","content":[{"type":"te' });

/** GET /v1/models as the API answers it: one page holding every model. */
function modelsPage(ids: string[]) {
  return {
    data: ids.map((id) => ({ type: 'model', id, display_name: id, created_at: '2026-01-01T00:00:00Z' })),
    has_more: false,
    first_id: ids[0] ?? null,
    last_id: ids.at(-1) ?? null,
  };
}

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
  /**
   * Answer request shapes a model does not take with the API's 400, before the script is
   * consulted (see modelRuleViolation). Off only to record what a lax proxy would accept. @default true
   */
  strictModels?: boolean;
  /** Streamed answers wait this long between events, like a slow model. */
  streamDelayMs?: number;
  /** What GET /v1/models lists. @default every model in the model table in force */
  models?: string[];
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
  const issuedThinking: IssuedThinking = new Map();
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
      const refused = o.strictModels === false ? undefined : modelRuleViolation(req.body, issuedThinking);
      if (refused) return refused;
      const reply = o.byTurn ? await o.byTurn(req.turn, req) : script.shift();
      if (reply) rememberThinking(reply, issuedThinking);
      if (!reply) {
        fake.exhausted = `no more scripted responses (request ${fake.requests.length}, turn ${req.turn})`;
        return apiError(400, 'invalid_request_error', `fake anthropic server: ${fake.exhausted}`);
      }
      // Accepted: billed now, however the answer's delivery goes.
      const bill = reply.status === 200 && !reply.hang ? billOf(reply, req.body) : undefined;
      if (bill) billed.push(bill);
      return o.streamDelayMs && reply.status === 200 ? { ...reply, streamDelayMs: reply.streamDelayMs ?? o.streamDelayMs } : reply;
    },
    { get: (url) => (url === '/_billing' ? billing() : url.split('?')[0] === '/v1/models' ? modelsPage(o.models ?? Object.keys(modelTable().models)) : undefined), streaming: (d) => (streaming += d) },
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

// --- Model rules: what the real API refuses, by the model's row in common/models.json. ---

/** The API's answer to a forcing tool_choice on a model that thinks before every answer. */
export const FORCED_TOOL_USE_ERROR = 'Thinking may not be enabled when tool_choice forces tool use.';

const signThinking = (t: string) => createHash('sha256').update(`fake-thinking:${t}`).digest('base64');

/** A thinking block as the API returns it: the signature covers the text, so an edited block is refused. */
export const thinking = (t: string): Block => ({ type: 'thinking', thinking: t, signature: signThinking(t) });

/** Thinking blocks the fake has answered with, by the ID of a tool call in the same message. */
type IssuedThinking = Map<string, { thinking: string; signature: string }[]>;

function rememberThinking(reply: MessagesReply, issued: IssuedThinking): void {
  const content = (reply.json as { content?: Block[] } | undefined)?.content;
  if (!Array.isArray(content)) return;
  const blocks = content.filter((b): b is Extract<Block, { type: 'thinking' }> => b.type === 'thinking').map((b) => ({ thinking: b.thinking, signature: b.signature }));
  if (blocks.length === 0) return;
  for (const b of content) if (b.type === 'tool_use') issued.set(b.id, blocks);
}

/**
 * The 400 the API gives for a request this model does not take, or undefined:
 * a forcing tool_choice (`tool` or `any`) on a model whose row says `forcedToolUse: rejected`;
 * thinking switched off on a model that always thinks; a thinking block whose text no longer
 * matches its signature; an assistant tool call sent back without the thinking blocks it came with.
 */
export function modelRuleViolation(body: MessagesRequest['body'], issued: IssuedThinking = new Map()): MessagesReply | undefined {
  const entry = modelEntry(String(body.model ?? ''));
  const choice = (body.tool_choice as { type?: string } | undefined)?.type;
  if (entry?.forcedToolUse === 'rejected' && (choice === 'tool' || choice === 'any')) return apiError(400, 'invalid_request_error', FORCED_TOOL_USE_ERROR);
  if (entry?.thinking === 'always' && (body.thinking as { type?: string } | undefined)?.type === 'disabled') {
    return apiError(400, 'invalid_request_error', `thinking: thinking cannot be disabled for ${String(body.model)}`);
  }
  const messages = body.messages ?? [];
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (m.role !== 'assistant' || !Array.isArray(m.content)) continue;
    const blocks = m.content as { type: string; thinking?: string; signature?: string; id?: string }[];
    for (let j = 0; j < blocks.length; j++) {
      const b = blocks[j];
      if (b.type === 'thinking' && b.signature !== signThinking(String(b.thinking))) {
        return apiError(400, 'invalid_request_error', `messages.${i}.content.${j}: Invalid \`signature\` in \`thinking\` block`);
      }
    }
    for (const call of blocks.filter((b) => b.type === 'tool_use' && b.id && issued.has(b.id))) {
      const sent = blocks.filter((b) => b.type === 'thinking').map((b) => `${b.signature}\u0000${b.thinking}`);
      if (!issued.get(call.id!)!.every((t) => sent.includes(`${t.signature}\u0000${t.thinking}`))) {
        return apiError(400, 'invalid_request_error', `messages.${i}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${blocks[0]?.type}\`. When thinking is enabled, an assistant message with tool use must keep the thinking blocks it was answered with, unmodified.`);
      }
    }
  }
  return undefined;
}
