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
import { apiError, serveMessages, turnOf, type MessagesReply, type MessagesRequest } from '../../demo/messages-server';
import { batchPrice, costOf, modelEntry, modelTable, priceOf, worstCasePrice } from '../../common/models';

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
export const toolUse = (id: string, name: string, input: Record<string, unknown>): Block => ({
  type: 'tool_use',
  id,
  name,
  input,
});

/** A 200 reply holding one assistant message. */
export function message(
  content: Block[],
  o: { usage?: Usage; stopReason?: string; model?: string } = {},
): MessagesReply {
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
      usage: {
        input_tokens: 100,
        output_tokens: 20,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        ...o.usage,
      },
    },
  };
}

export const rateLimited = (retryAfterSeconds: number) =>
  apiError(429, 'rate_limit_error', 'slow down', { 'retry-after': String(retryAfterSeconds) });
export const overloaded = () => apiError(529, 'overloaded_error', 'Overloaded');
export const badRequest = (msg = 'prompt is too long: 210000 tokens > 200000 maximum') =>
  apiError(400, 'invalid_request_error', msg);
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
  /** Processed in a Message Batch, at the batch price. */
  batchId?: string;
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
  /** The Message Batches created, oldest first. */
  batches(): FakeBatch[];
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
  /** How the Message Batches API behaves. */
  batches?: BatchBehaviour;
  /**
   * Prompt caching as the API does it: the fake counts the request's tokens itself and
   * answers with usage split into uncached input, cache writes (5-minute and 1-hour) and
   * cache reads, replacing the script's input figures (its output figure is kept).
   */
  cache?: CacheBehaviour;
}

export interface CacheBehaviour {
  /** The cache's clock (epoch ms); a bench passes a virtual one so a long tool call takes no real time. @default Date.now */
  now?: () => number;
  /** A prefix shorter than this is not cached (the API's minimum cacheable length). @default the model's minCacheableTokens (common/models.json), else 1024 */
  minCacheableTokens?: number;
  /** Count tokens, ignore cache_control: the same requests as a model without caching bills them. */
  off?: boolean;
}

/** A clock running `scale` times faster than the wall clock from now on, for CacheBehaviour.now. */
export function scaledClock(scale: number): () => number {
  const start = Date.now();
  return () => start + (Date.now() - start) * scale;
}

export interface BatchBehaviour {
  /** A batch ends this long after it was created (its requests are answered then, by the script). @default 0 */
  processAfterMs?: number;
  /** The batch reaches its 24 hours unprocessed: every request expires, unbilled. */
  expire?: boolean | ((batch: FakeBatch) => boolean);
  /**
   * The batch is processed (and billed) but its results cannot be downloaded: the API's 404,
   * as for results past their 29 days. The state still reads `ended` with its counts.
   */
  resultsGone?: boolean;
}

/** A Message Batch as the fake keeps it. */
export interface FakeBatch {
  id: string;
  createdAt: number;
  requests: { custom_id: string; params: MessagesRequest['body'] }[];
  status: 'in_progress' | 'canceling' | 'ended';
  results?: { custom_id: string; result: Record<string, unknown> }[];
  endedAt?: number;
  cancelAt?: number;
  /** How many times its results were downloaded. */
  resultReads: number;
}

/** What the API rejects with 400 before billing anything; undefined when the request is well formed. */
export function invalidRequest(body: MessagesRequest['body']): string | undefined {
  if (typeof body.model !== 'string' || !body.model) return 'model: Field required';
  if (!Number.isInteger(body.max_tokens) || (body.max_tokens as number) < 1)
    return 'max_tokens: must be a positive integer';
  if (!Array.isArray(body.messages) || body.messages.length === 0) return 'messages: at least one message is required';
  if (body.messages[0].role !== 'user') return 'messages: first message must use the "user" role';
  if (body.stream !== undefined && typeof body.stream !== 'boolean') return 'stream: must be a boolean';
  return undefined;
}

/** What the API bills for an accepted request: its answer's usage. A malformed body (a broken proxy's, not the API's) has none to bill. */
function billOf(reply: MessagesReply, body: MessagesRequest['body'], batchId?: string): BilledRequest | undefined {
  const u = (reply.json as { usage?: Partial<Usage> } | undefined)?.usage;
  if (!u) return undefined;
  const usage = {
    input: u.input_tokens ?? 0,
    output: u.output_tokens ?? 0,
    cacheWrite: u.cache_creation_input_tokens ?? 0,
    cacheRead: u.cache_read_input_tokens ?? 0,
  };
  const model = String(body.model);
  const listed = priceOf(model) ?? worstCasePrice();
  const cacheWrite1h = u.cache_creation?.ephemeral_1h_input_tokens ?? 0;
  return {
    model,
    usage,
    costUsd: costOf({ ...usage, cacheWrite1h }, batchId ? batchPrice(listed) : listed),
    at: Date.now(),
    ...(batchId ? { batchId } : {}),
  };
}

export async function startFakeAnthropic(o: FakeOptions): Promise<FakeAnthropic> {
  const script = [...(o.script ?? [])];
  const fake: Partial<FakeAnthropic> & { requests: MessagesRequest[] } = { requests: [] };
  const issuedThinking: IssuedThinking = new Map();
  const promptCache = new PromptCache(o.cache ?? {});
  const billed: BilledRequest[] = [];
  let streaming = 0;
  const billing = (): Billing => ({
    requests: billed.length,
    costUsd: billed.reduce((a, b) => a + Math.round(b.costUsd * 1e9), 0) / 1e9,
    billed: [...billed],
  });
  /** What the API answers a request with, before billing: a 400 for a shape it refuses, else the script's reply. */
  const decide = async (req: MessagesRequest): Promise<MessagesReply> => {
    fake.requests.push(req);
    const invalid = invalidRequest(req.body);
    if (invalid) {
      fake.exhausted = `invalid request ${fake.requests.length}: ${invalid}`;
      return apiError(400, 'invalid_request_error', invalid);
    }
    const refused = o.strictModels === false ? undefined : modelRuleViolation(req.body, issuedThinking);
    if (refused) return refused;
    let reply = o.byTurn ? await o.byTurn(req.turn, req) : script.shift();
    if (reply && o.cache) {
      const cached = promptCache.use(req.body);
      if (typeof cached === 'string') return apiError(400, 'invalid_request_error', cached);
      if (reply.status === 200 && reply.json && typeof reply.json === 'object' && 'usage' in reply.json) {
        const json = reply.json as { usage: Usage; content: Block[]; stop_reason: string };
        // The API stops at max_tokens and bills only what it wrote: a scripted answer longer than that is cut.
        const cap = Number(req.body.max_tokens);
        const cut = json.usage.output_tokens > cap;
        reply = {
          ...reply,
          json: {
            ...json,
            ...(cut ? { content: [{ type: 'text', text: '' }], stop_reason: 'max_tokens' } : {}),
            usage: { ...cached, output_tokens: cut ? cap : json.usage.output_tokens },
          },
        };
      }
    }
    if (reply) rememberThinking(reply, issuedThinking);
    if (!reply) {
      fake.exhausted = `no more scripted responses (request ${fake.requests.length}, turn ${req.turn})`;
      return apiError(400, 'invalid_request_error', `fake anthropic server: ${fake.exhausted}`);
    }
    return reply;
  };
  const batches = new FakeBatches(o.batches ?? {}, async (b) => {
    for (const r of b.requests) {
      const reply = await decide({
        turn: turnOf(r.params),
        body: r.params,
        headers: { 'x-fake-batch': b.id },
        at: Date.now(),
      });
      if (reply.status === 200 && !reply.hang && !reply.raw) {
        const bill = billOf(reply, r.params, b.id);
        if (bill) billed.push(bill);
        b.results!.push({ custom_id: r.custom_id, result: { type: 'succeeded', message: reply.json } });
      } else {
        // An errored request is not billed; its error is the body the Messages API would have sent.
        const error = (reply.json as { error?: unknown } | undefined)?.error ?? {
          type: 'api_error',
          message: 'the fake could not answer',
        };
        b.results!.push({ custom_id: r.custom_id, result: { type: 'errored', error: { type: 'error', error } } });
      }
    }
  });
  const server = await serveMessages(
    async (req) => {
      const reply = await decide(req);
      // Accepted: billed now, however the answer's delivery goes.
      const bill = reply.status === 200 && !reply.hang ? billOf(reply, req.body) : undefined;
      if (bill) billed.push(bill);
      return o.streamDelayMs && reply.status === 200
        ? { ...reply, streamDelayMs: reply.streamDelayMs ?? o.streamDelayMs }
        : reply;
    },
    {
      get: (url) =>
        url === '/_billing'
          ? billing()
          : url.split('?')[0] === '/v1/models'
            ? modelsPage(o.models ?? Object.keys(modelTable().models))
            : undefined,
      streaming: (d) => (streaming += d),
      route: (method, url, body) => batches.route(method, url, body, server?.url ?? ''),
    },
  );
  return Object.assign(fake, {
    url: server.url,
    close: server.close,
    billing,
    inFlight: () => streaming,
    batches: () => batches.list(),
    turnCounts() {
      const m = new Map<number, number>();
      for (const r of fake.requests) m.set(r.turn, (m.get(r.turn) ?? 0) + 1);
      return m;
    },
  }) as FakeAnthropic;
}

// --- Prompt caching: by prefix, at the request's breakpoints, with 5-minute and 1-hour TTLs. ---

/** The fake's tokenizer: about four characters a token, as English prose runs. */
export const fakeTokens = (chars: number) => Math.ceil(chars / 4);

const TTL_MS = { '5m': 5 * 60_000, '1h': 60 * 60_000 } as const;

/** How far back from a breakpoint the API looks for an earlier cached prefix (its documented 20-block window). */
const LOOKBACK_BLOCKS = 20;

class PromptCache {
  /** Prefix hash -> when the entry expires and how long a read extends it. */
  private readonly entries = new Map<string, { expiresAt: number; ttlMs: number }>();
  constructor(private readonly o: CacheBehaviour) {}

  /**
   * The usage of one request, caching what it marks; a string is the API's 400 for a
   * request whose breakpoints it refuses (more than four, or a 1-hour one after a 5-minute one).
   */
  use(body: MessagesRequest['body']): Usage | string {
    const now = (this.o.now ?? Date.now)();
    // The prompt in the API's order: tools, system, then each message's blocks.
    const blocks: { text: string; ttl?: '5m' | '1h' }[] = [];
    const add = (b: unknown) => {
      const { cache_control: cc, ...rest } = (b ?? {}) as { cache_control?: { ttl?: string } };
      blocks.push({ text: JSON.stringify(rest), ...(cc ? { ttl: cc.ttl === '1h' ? '1h' : '5m' } : {}) });
    };
    for (const t of (body.tools as unknown[] | undefined) ?? []) add(t);
    const system = body.system;
    if (typeof system === 'string') add({ type: 'text', text: system });
    else for (const b of (system as unknown[] | undefined) ?? []) add(b);
    for (const m of body.messages ?? []) {
      if (typeof m.content === 'string') add({ role: m.role, type: 'text', text: m.content });
      else (m.content as unknown[]).forEach((b, i) => add(i === 0 ? { role: m.role, ...(b as object) } : b));
    }
    const marks = blocks.flatMap((b, i) => (b.ttl ? [i] : []));
    if (marks.length > 4) return `A maximum of 4 blocks with cache_control may be provided. Found ${marks.length}.`;
    const firstShort = marks.findIndex((i) => blocks[i].ttl === '5m');
    if (firstShort >= 0 && marks.slice(firstShort).some((i) => blocks[i].ttl === '1h'))
      return "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block";
    const hashes: string[] = [];
    const tokensThrough: number[] = [];
    let h = createHash('sha256');
    let tokens = 0;
    for (const b of blocks) {
      h = h.copy().update(b.text);
      hashes.push(h.copy().digest('hex'));
      tokens += fakeTokens(b.text.length);
      tokensThrough.push(tokens);
    }
    const total = tokens;
    if (this.o.off)
      return {
        input_tokens: total,
        output_tokens: 0,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
      };
    // The longest live prefix at a breakpoint or within the lookback window before one.
    let hit = -1;
    for (const m of marks) {
      for (let i = m; i >= 0 && i > m - LOOKBACK_BLOCKS; i--) {
        const e = this.entries.get(hashes[i]);
        if (e && e.expiresAt > now) {
          hit = Math.max(hit, i);
          break;
        }
      }
    }
    const minimum = this.o.minCacheableTokens ?? modelEntry(String(body.model ?? ''))?.minCacheableTokens ?? 1024;
    const read = hit >= 0 ? tokensThrough[hit] : 0;
    if (hit >= 0) {
      const e = this.entries.get(hashes[hit])!;
      e.expiresAt = now + e.ttlMs;
    }
    // Every later breakpoint long enough to cache writes its prefix, each segment at its own TTL.
    const written = { '5m': 0, '1h': 0 };
    let end = read;
    for (const m of marks) {
      if (m <= hit || tokensThrough[m] < minimum) continue;
      const ttl = blocks[m].ttl!;
      written[ttl] += tokensThrough[m] - end;
      end = tokensThrough[m];
      this.entries.set(hashes[m], { expiresAt: now + TTL_MS[ttl], ttlMs: TTL_MS[ttl] });
    }
    const write = written['5m'] + written['1h'];
    return {
      input_tokens: total - read - write,
      output_tokens: 0,
      cache_creation_input_tokens: write,
      cache_read_input_tokens: read,
      cache_creation: { ephemeral_5m_input_tokens: written['5m'], ephemeral_1h_input_tokens: written['1h'] },
    };
  }
}

// --- The Message Batches API: create, retrieve, list, cancel, results as JSONL. ---

const CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;
const BATCH_LIFETIME_MS = 24 * 3_600_000;
const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

class FakeBatches {
  private readonly all: FakeBatch[] = [];
  private seq = 0;
  constructor(
    private readonly behaviour: BatchBehaviour,
    private readonly process: (b: FakeBatch) => Promise<void>,
  ) {}

  list(): FakeBatch[] {
    return [...this.all];
  }

  /** Ends what is due: a batch past its processing time is answered (or expired), a canceling one is ended. */
  private async settle(b: FakeBatch): Promise<void> {
    if (b.status === 'ended') return;
    const now = Date.now();
    if (b.status === 'canceling' && b.cancelAt !== undefined) {
      b.results = b.requests.map((r) => ({ custom_id: r.custom_id, result: { type: 'canceled' } }));
      return this.end(b, now);
    }
    if (now < b.createdAt + (this.behaviour.processAfterMs ?? 0)) return;
    const expire =
      typeof this.behaviour.expire === 'function' ? this.behaviour.expire(b) : this.behaviour.expire === true;
    b.results = [];
    if (expire) b.results = b.requests.map((r) => ({ custom_id: r.custom_id, result: { type: 'expired' } }));
    else await this.process(b);
    this.end(b, now);
  }

  private end(b: FakeBatch, now: number): void {
    b.status = 'ended';
    b.endedAt = now;
  }

  private view(b: FakeBatch, base: string) {
    const count = (type: string) =>
      b.status === 'ended' ? (b.results ?? []).filter((r) => r.result.type === type).length : 0;
    return {
      id: b.id,
      type: 'message_batch',
      processing_status: b.status,
      request_counts: {
        processing: b.status === 'ended' ? 0 : b.requests.length,
        succeeded: count('succeeded'),
        errored: count('errored'),
        canceled: count('canceled'),
        expired: count('expired'),
      },
      created_at: iso(b.createdAt),
      expires_at: iso(b.createdAt + BATCH_LIFETIME_MS),
      ended_at: iso(b.endedAt),
      cancel_initiated_at: iso(b.cancelAt),
      archived_at: null,
      results_url: b.status === 'ended' ? `${base}/v1/messages/batches/${b.id}/results` : null,
    };
  }

  async route(method: string, url: string, body: unknown, base: string): Promise<MessagesReply | undefined> {
    const u = new URL(url, 'http://fake');
    const m = /^\/v1\/messages\/batches(?:\/([^/]+))?(?:\/(results|cancel))?$/.exec(u.pathname);
    if (!m) return undefined;
    const [, id, action] = m;
    if (!id && method === 'POST') return this.create(body, base);
    if (!id && method === 'GET') {
      for (const b of this.all) await this.settle(b);
      // Newest first, as the API lists them.
      let rows = [...this.all].reverse();
      const after = u.searchParams.get('after_id');
      if (after) rows = rows.slice(rows.findIndex((b) => b.id === after) + 1);
      const limit = Math.min(1000, Math.max(1, Number(u.searchParams.get('limit') ?? 20)));
      const page = rows.slice(0, limit);
      return {
        status: 200,
        json: {
          data: page.map((b) => this.view(b, base)),
          has_more: rows.length > limit,
          first_id: page[0]?.id ?? null,
          last_id: page[page.length - 1]?.id ?? null,
        },
      };
    }
    const b = this.all.find((x) => x.id === id);
    if (!b) return apiError(404, 'not_found_error', `message_batch: ${id} not found`);
    await this.settle(b);
    if (!action && method === 'GET') return { status: 200, json: this.view(b, base) };
    if (action === 'cancel' && method === 'POST') {
      if (b.status === 'in_progress') {
        b.status = 'canceling';
        b.cancelAt = Date.now();
      }
      return { status: 200, json: this.view(b, base) };
    }
    if (action === 'results' && method === 'GET') {
      if (b.status !== 'ended')
        return apiError(
          400,
          'invalid_request_error',
          `message_batch ${id} has not ended; its results are not available yet`,
        );
      if (this.behaviour.resultsGone)
        return apiError(404, 'not_found_error', `the results of message_batch ${id} are no longer available`);
      b.resultReads++;
      // Not in request order, as the API warns: callers must match by custom_id.
      const lines = [...(b.results ?? [])].reverse().map((r) => JSON.stringify(r));
      return { status: 200, headers: { 'content-type': 'application/binary' }, raw: lines.join('\n') + '\n' };
    }
    return apiError(405, 'invalid_request_error', `${method} ${u.pathname} is not allowed`);
  }

  private create(body: unknown, base: string): MessagesReply {
    const requests = (body as { requests?: unknown } | undefined)?.requests;
    if (!Array.isArray(requests) || requests.length === 0)
      return apiError(400, 'invalid_request_error', 'requests: at least one request is required');
    if (requests.length > 100_000) return apiError(400, 'invalid_request_error', 'requests: at most 100000 requests');
    const seen = new Set<string>();
    for (const [i, r] of requests.entries()) {
      const req = r as { custom_id?: unknown; params?: MessagesRequest['body'] };
      if (typeof req.custom_id !== 'string' || !CUSTOM_ID.test(req.custom_id))
        return apiError(
          400,
          'invalid_request_error',
          `requests.${i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'`,
        );
      if (seen.has(req.custom_id))
        return apiError(
          400,
          'invalid_request_error',
          `requests.${i}.custom_id: custom_id values must be unique within a batch; ${req.custom_id} is repeated`,
        );
      seen.add(req.custom_id);
      if (!req.params || typeof req.params !== 'object')
        return apiError(400, 'invalid_request_error', `requests.${i}.params: Field required`);
      if (req.params.stream === true)
        return apiError(
          400,
          'invalid_request_error',
          `requests.${i}.params.stream: streaming is not supported in a Message Batch`,
        );
      const invalid = invalidRequest(req.params);
      if (invalid) return apiError(400, 'invalid_request_error', `requests.${i}.params.${invalid}`);
    }
    const b: FakeBatch = {
      id: `msgbatch_fake${String(++this.seq).padStart(6, '0')}${Math.random().toString(36).slice(2, 8)}`,
      createdAt: Date.now(),
      requests: requests as FakeBatch['requests'],
      status: 'in_progress',
      resultReads: 0,
    };
    this.all.push(b);
    return { status: 200, json: this.view(b, base) };
  }
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
  const blocks = content
    .filter((b): b is Extract<Block, { type: 'thinking' }> => b.type === 'thinking')
    .map((b) => ({ thinking: b.thinking, signature: b.signature }));
  if (blocks.length === 0) return;
  for (const b of content) if (b.type === 'tool_use') issued.set(b.id, blocks);
}

/**
 * The 400 the API gives for a request this model does not take, or undefined:
 * a forcing tool_choice (`tool` or `any`) on a model whose row says `forcedToolUse: rejected`;
 * thinking switched off on a model that always thinks; a thinking block whose text no longer
 * matches its signature; an assistant tool call sent back without the thinking blocks it came with.
 */
export function modelRuleViolation(
  body: MessagesRequest['body'],
  issued: IssuedThinking = new Map(),
): MessagesReply | undefined {
  const entry = modelEntry(String(body.model ?? ''));
  const choice = (body.tool_choice as { type?: string } | undefined)?.type;
  if (entry?.forcedToolUse === 'rejected' && (choice === 'tool' || choice === 'any'))
    return apiError(400, 'invalid_request_error', FORCED_TOOL_USE_ERROR);
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
        return apiError(
          400,
          'invalid_request_error',
          `messages.${i}.content.${j}: Invalid \`signature\` in \`thinking\` block`,
        );
      }
    }
    for (const call of blocks.filter((b) => b.type === 'tool_use' && b.id && issued.has(b.id))) {
      const sent = blocks.filter((b) => b.type === 'thinking').map((b) => `${b.signature}\u0000${b.thinking}`);
      if (!issued.get(call.id!)!.every((t) => sent.includes(`${t.signature}\u0000${t.thinking}`))) {
        return apiError(
          400,
          'invalid_request_error',
          `messages.${i}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${blocks[0]?.type}\`. When thinking is enabled, an assistant message with tool use must keep the thinking blocks it was answered with, unmodified.`,
        );
      }
    }
  }
  return undefined;
}
