/**
 * A loopback fake of the E2B control plane: the endpoints the `e2b` provider uses
 * (create, list by metadata, connect, kill). It does not speak envd, the in-sandbox
 * connect-rpc API, so commands and files are not served. Unknown routes fail loudly.
 */
import * as http from 'node:http';
import { listenOnLoopback } from '../../common/loopback';

export interface FakeSandbox {
  sandboxID: string;
  templateID: string;
  metadata: Record<string, string>;
  envVars: Record<string, string>;
  body: Record<string, unknown>;
  startedAt: string;
}

export interface FakeE2B {
  url: string;
  sandboxes: Map<string, FakeSandbox>;
  /** Every sandbox ever created, killed ones included. */
  created: FakeSandbox[];
  requests: string[];
  close(): Promise<void>;
}

export async function startFakeE2B(apiKey: string): Promise<FakeE2B> {
  const sandboxes = new Map<string, FakeSandbox>();
  const requests: string[] = [];
  const created: FakeSandbox[] = [];
  let n = 0;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      requests.push(`${req.method} ${url.pathname}`);
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.headers['x-api-key'] !== apiKey) return send(401, { code: 401, message: 'bad api key' });
      const info = (s: FakeSandbox) => ({
        sandboxID: s.sandboxID, templateID: s.templateID, clientID: 'fake', envdVersion: '0.2.0', envdAccessToken: 'tok',
        domain: null, metadata: s.metadata, startedAt: s.startedAt, endAt: s.startedAt, state: 'running', cpuCount: 1, memoryMB: 512, diskSizeMB: 1024,
      });
      let m: RegExpMatchArray | null;
      if (req.method === 'POST' && url.pathname === '/v2/sandboxes') {
        const body = JSON.parse(raw) as Record<string, unknown>;
        const s: FakeSandbox = {
          sandboxID: `fake${++n}`, templateID: String(body.templateID), metadata: (body.metadata as Record<string, string>) ?? {},
          envVars: (body.envVars as Record<string, string>) ?? {}, body, startedAt: new Date(Date.now() + n).toISOString(),
        };
        sandboxes.set(s.sandboxID, s);
        created.push(s);
        return send(201, info(s));
      }
      if (req.method === 'GET' && url.pathname === '/v2/sandboxes') {
        const want = new URLSearchParams(url.searchParams.get('metadata') ?? '');
        const list = [...sandboxes.values()].filter((s) => [...want].every(([k, v]) => s.metadata[decodeURIComponent(k)] === decodeURIComponent(v)));
        return send(200, list.map(info));
      }
      if (req.method === 'POST' && (m = url.pathname.match(/^\/v2\/sandboxes\/([^/]+)\/connect$/))) {
        const s = sandboxes.get(m[1]);
        return s ? send(200, info(s)) : send(404, { code: 404, message: `sandbox ${m[1]} not found` });
      }
      if (req.method === 'DELETE' && (m = url.pathname.match(/^\/sandboxes\/([^/]+)$/))) {
        return sandboxes.delete(m[1]) ? (res.writeHead(204), res.end()) : send(404, { code: 404, message: 'not found' });
      }
      send(500, { code: 500, message: `fake e2b: no route for ${req.method} ${url.pathname}` });
    });
  });
  const { port, close } = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}`,
    sandboxes,
    created,
    requests,
    close,
  };
}
