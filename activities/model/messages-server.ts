/**
 * A loopback HTTP server that speaks the Messages API's wire format (POST /v1/messages),
 * for the offline replay model and for tests. The real SDK talks to it through
 * ANTHROPIC_BASE_URL, so nothing about the client is faked.
 */
import * as http from 'node:http';
import { listenOnLoopback } from '../../common/loopback';

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

export function apiError(status: number, type: string, message: string, headers?: Record<string, string>): MessagesReply {
  return { status, headers, json: { type: 'error', error: { type, message } } };
}

export async function serveMessages(handler: MessagesHandler): Promise<MessagesServer> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        let reply: MessagesReply;
        try {
          if (req.method !== 'POST' || !req.url?.startsWith('/v1/messages')) {
            reply = apiError(404, 'not_found_error', `${req.method} ${req.url} is not served here; only POST /v1/messages`);
          } else {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as MessagesRequest['body'];
            reply = await handler({ turn: turnOf(body), body, headers: req.headers, at: Date.now() });
          }
        } catch (err) {
          reply = apiError(500, 'api_error', `messages server: ${(err as Error).message}`);
        }
        if (reply.hang) return;
        const text = reply.raw ?? JSON.stringify(reply.json ?? {});
        res.writeHead(reply.status, { 'content-type': 'application/json', 'request-id': `req_${Date.now()}`, ...reply.headers });
        res.end(text);
      })();
    });
  });
  const { port, close } = await listenOnLoopback(server);
  return { url: `http://127.0.0.1:${port}`, close };
}
