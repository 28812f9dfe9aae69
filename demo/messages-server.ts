/**
 * A loopback HTTP server that speaks the Messages API's wire format (POST /v1/messages),
 * for the offline replay model and for tests. The real SDK talks to it through
 * ANTHROPIC_BASE_URL, so nothing about the client is faked.
 */
import * as http from 'node:http';
import { listenOnLoopback } from '../common/loopback';

export interface MessagesRequest {
  /** 1-based: the number of assistant messages the request carries, plus one. */
  turn: number;
  body: { model?: string; messages?: { role: string; content: unknown }[]; [k: string]: unknown };
  headers: http.IncomingHttpHeaders;
  /** Epoch ms when the request arrived. */
  at: number;
}

/** What the server sends back: a JSON body with a status, or raw text (for malformed bodies). */
export interface MessagesReply {
  status: number;
  headers?: Record<string, string>;
  json?: unknown;
  raw?: string;
  /** Never answer (the connection stays open until the server closes). */
  hang?: boolean;
  /**
   * A slow model: a streamed (SSE) answer waits this long between its events; an answer
   * not streamed comes whole after as long as streaming it would have taken.
   */
  streamDelayMs?: number;
  /** A streamed answer whose connection drops after this many events (tests of cut-off calls). */
  cutAfterEvents?: number;
}

export type MessagesHandler = (req: MessagesRequest) => MessagesReply | Promise<MessagesReply>;

export interface MessagesServer {
  /** Base URL for ANTHROPIC_BASE_URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  close(): Promise<void>;
}

export function turnOf(body: MessagesRequest['body']): number {
  return (body.messages ?? []).filter((m) => m.role === 'assistant').length + 1;
}

export function apiError(
  status: number,
  type: string,
  message: string,
  headers?: Record<string, string>,
): MessagesReply {
  return { status, headers, json: { type: 'error', error: { type, message } } };
}

type StreamedMessage = {
  content: (
    { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: unknown } | { type: string }
  )[];
  usage: Record<string, number>;
  stop_reason: string | null;
  stop_sequence: string | null;
};

/** Pieces of at most 64 characters, as the API sends deltas. */
const pieces = (t: string) => (t.length ? (t.match(/[\s\S]{1,64}/g) ?? []) : []);

/**
 * The Messages API's server-sent events for one complete message: message_start with the
 * input usage, each block as start / deltas / stop, message_delta with the output usage
 * and stop reason, message_stop.
 */
export function messageEvents(m: StreamedMessage): { event: string; data: unknown }[] {
  const { output_tokens: outputTokens = 0, ...inputUsage } = m.usage;
  const events: { event: string; data: unknown }[] = [
    {
      event: 'message_start',
      data: {
        type: 'message_start',
        message: {
          ...m,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { ...inputUsage, output_tokens: Math.min(1, outputTokens) },
        },
      },
    },
  ];
  m.content.forEach((b, index) => {
    if (b.type === 'text' && 'text' in b) {
      events.push({
        event: 'content_block_start',
        data: { type: 'content_block_start', index, content_block: { type: 'text', text: '' } },
      });
      for (const text of pieces(b.text))
        events.push({
          event: 'content_block_delta',
          data: { type: 'content_block_delta', index, delta: { type: 'text_delta', text } },
        });
    } else if (b.type === 'tool_use' && 'input' in b) {
      events.push({
        event: 'content_block_start',
        data: {
          type: 'content_block_start',
          index,
          content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} },
        },
      });
      for (const partial_json of pieces(JSON.stringify(b.input ?? {})))
        events.push({
          event: 'content_block_delta',
          data: { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json } },
        });
    } else {
      events.push({ event: 'content_block_start', data: { type: 'content_block_start', index, content_block: b } });
    }
    events.push({ event: 'content_block_stop', data: { type: 'content_block_stop', index } });
  });
  events.push({
    event: 'message_delta',
    data: {
      type: 'message_delta',
      delta: { stop_reason: m.stop_reason, stop_sequence: m.stop_sequence },
      usage: { output_tokens: outputTokens },
    },
  });
  events.push({ event: 'message_stop', data: { type: 'message_stop' } });
  return events;
}

const isMessage = (v: unknown): v is StreamedMessage =>
  !!v &&
  typeof v === 'object' &&
  (v as { type?: unknown }).type === 'message' &&
  Array.isArray((v as StreamedMessage).content);

/** Writes a 200 reply as the API streams it; stops early when the client goes away. */
async function writeStream(
  res: http.ServerResponse,
  reply: MessagesReply,
  headers: Record<string, string>,
): Promise<void> {
  // A client that hangs up mid-answer is the case streaming exists for, not a server error.
  res.on('error', () => undefined);
  res.writeHead(200, { ...headers, 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  // A malformed body is sent as a malformed event, which the SDK must reject.
  const events = isMessage(reply.json)
    ? messageEvents(reply.json)
    : [{ event: 'message_start', data: reply.raw ?? JSON.stringify(reply.json ?? {}) }];
  for (const [i, e] of events.entries()) {
    if (i === reply.cutAfterEvents) {
      res.destroy();
      return;
    }
    if (res.destroyed) return;
    if (reply.streamDelayMs) await new Promise((r) => setTimeout(r, reply.streamDelayMs));
    if (res.destroyed) return;
    res.write(`event: ${e.event}\ndata: ${typeof e.data === 'string' ? e.data : JSON.stringify(e.data)}\n\n`);
  }
  res.end();
}

export interface ServeOptions {
  /** GET routes for tests (a fake's bill): a defined value is served as JSON. */
  get?: (url: string) => unknown;
  /** Other endpoints (the Message Batches API): a defined reply is sent as is; undefined falls through to the routes above. */
  route?: (
    method: string,
    url: string,
    body: unknown,
  ) => MessagesReply | undefined | Promise<MessagesReply | undefined>;
  /** Told when a streamed answer starts and when it ends (finished or cut off). */
  streaming?: (delta: 1 | -1) => void;
}

export async function serveMessages(handler: MessagesHandler, o: ServeOptions = {}): Promise<MessagesServer> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        let reply: MessagesReply;
        let streamed = false;
        try {
          const raw = Buffer.concat(chunks).toString('utf8');
          const routed = o.route
            ? await o.route(req.method ?? 'GET', req.url ?? '', raw ? JSON.parse(raw) : undefined)
            : undefined;
          const got = !routed && req.method === 'GET' && o.get ? o.get(req.url ?? '') : undefined;
          if (routed) {
            reply = routed;
          } else if (got !== undefined) {
            reply = { status: 200, json: got };
          } else if (req.method !== 'POST' || new URL(req.url ?? '/', 'http://loopback').pathname !== '/v1/messages') {
            // Only the Messages API itself: the replay model has no Message Batches, so a batch submission is a plain 404 (nothing billed).
            reply = apiError(
              404,
              'not_found_error',
              `${req.method} ${req.url} is not served here; only POST /v1/messages`,
            );
          } else {
            const body = JSON.parse(raw) as MessagesRequest['body'];
            streamed = body.stream === true;
            reply = await handler({ turn: turnOf(body), body, headers: req.headers, at: Date.now() });
          }
        } catch (err) {
          reply = apiError(500, 'api_error', `messages server: ${(err as Error).message}`);
        }
        if (reply.hang) return;
        const headers = { 'request-id': `req_${Date.now()}`, ...reply.headers };
        if (streamed && reply.status === 200) {
          o.streaming?.(1);
          return writeStream(res, reply, headers).finally(() => o.streaming?.(-1));
        }
        if (reply.streamDelayMs && reply.status === 200) {
          o.streaming?.(1);
          await new Promise((r) =>
            setTimeout(r, reply.streamDelayMs! * (isMessage(reply.json) ? messageEvents(reply.json).length : 1)),
          );
          o.streaming?.(-1);
          if (res.destroyed) return;
        }
        const text = reply.raw ?? JSON.stringify(reply.json ?? {});
        res.writeHead(reply.status, { 'content-type': 'application/json', ...headers });
        res.end(text);
      })();
    });
  });
  const { port, close } = await listenOnLoopback(server);
  return { url: `http://127.0.0.1:${port}`, close };
}
