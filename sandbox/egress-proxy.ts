/**
 * The only way out of a local sandbox that may reach the network: an HTTP proxy (plain
 * requests and CONNECT tunnels) that lets through the hosts of one sandbox's allowlist.
 *
 * It runs inside the worker process and listens on a Unix socket made for one command,
 * so it ends when the command ends or the worker dies: no helper process is left on the
 * host. The sandbox reaches it through a bridge started inside the sandbox's own PID
 * namespace (see os-isolation.ts), which dies with the sandbox.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';

export interface EgressProxy {
  readonly socketPath: string;
  close(): Promise<void>;
}

/**
 * Whether `host` is on the allowlist: an entry matches itself exactly, and `*.example.com`
 * matches every name below example.com (not example.com itself).
 */
export function hostAllowed(host: string, allow: readonly string[]): boolean {
  const name = host.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
  return allow.some((entry) => {
    const e = entry.toLowerCase().replace(/\.$/, '');
    return e.startsWith('*.') ? name.endsWith(e.slice(1)) && name.length > e.length - 1 : name === e;
  });
}

const HOP_BY_HOP = new Set(['proxy-authorization', 'proxy-connection', 'connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

export async function startEgressProxy(socketPath: string, allow: readonly string[]): Promise<EgressProxy> {
  const open = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  };

  const server = http.createServer((req, res) => {
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('nightshift proxy: absolute http:// URL expected\n');
      return;
    }
    if (target.protocol !== 'http:' || !hostAllowed(target.hostname, allow)) {
      res.writeHead(403).end(`nightshift proxy: ${target.hostname} is not in this sandbox's network allowlist\n`);
      return;
    }
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v;
    const upstream = http.request(
      { host: target.hostname, port: target.port || 80, method: req.method, path: `${target.pathname}${target.search}`, headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502).end(`nightshift proxy: ${err.message}\n`);
      else res.destroy();
    });
    req.pipe(upstream);
  });

  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    track(client);
    const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(req.url ?? '');
    if (!m || !hostAllowed(m[1], allow)) {
      client.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nnightshift proxy: ${m?.[1] ?? req.url} is not in this sandbox's network allowlist\n`);
      return;
    }
    const upstream = net.connect(Number(m[2]), m[1].replace(/^\[|\]$/g, ''));
    track(upstream);
    upstream.on('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n'));
    client.on('error', () => upstream.destroy());
  });
  server.on('connection', track);

  await fs.promises.rm(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return {
    socketPath,
    async close() {
      for (const s of open) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await fs.promises.rm(socketPath, { force: true });
    },
  };
}
