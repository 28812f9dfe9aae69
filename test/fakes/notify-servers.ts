/**
 * Loopback HTTP servers standing in for Telegram's Bot API, a Slack incoming webhook and a
 * generic webhook. They speak the real wire format (JSON POSTs, Telegram's `{ ok, result }`)
 * and record every request; `failWith` makes one answer with an error status.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  body: Record<string, unknown>;
}

export interface RecordingServer {
  url: string;
  requests: RecordedRequest[];
  /** Resolves once a request matches. */
  waitFor(match: (r: RecordedRequest) => boolean): Promise<RecordedRequest>;
  close(): Promise<void>;
}

export async function startRecordingServer(o: { kind: 'telegram' | 'slack' | 'webhook'; failWith?: number }): Promise<RecordingServer> {
  const requests: RecordedRequest[] = [];
  const waiters: { match: (r: RecordedRequest) => boolean; resolve: (r: RecordedRequest) => void }[] = [];
  let messageId = 100;
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(data) as Record<string, unknown>;
      } catch {
        body = { raw: data };
      }
      const rec = { method: req.method ?? '', path: req.url ?? '', body };
      requests.push(rec);
      for (const w of waiters.filter((x) => x.match(rec))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(rec);
      }
      if (o.failWith) {
        res.writeHead(o.failWith, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, description: 'failing on purpose' }));
        return;
      }
      if (o.kind === 'telegram') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, result: { message_id: messageId++, chat: { id: body.chat_id }, text: body.text } }));
      } else if (o.kind === 'slack') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      } else {
        res.writeHead(204).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    waitFor(match) {
      const hit = requests.find(match);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
