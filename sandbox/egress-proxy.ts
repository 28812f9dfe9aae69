/**
 * The only way out of a local sandbox that may reach the network: an HTTP proxy (plain
 * requests and CONNECT tunnels) that lets through the hosts of one sandbox's allowlist.
 *
 * It runs inside the worker process and listens on a Unix socket made for one command,
 * so it ends when the command ends or the worker dies: no helper process is left on the
 * host. The sandbox reaches it through a bridge started inside the sandbox's own PID
 * namespace (see os-isolation.ts), which dies with the sandbox.
 */
import * as dns from 'node:dns';
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
/**
 * The variables that send a sandbox's HTTP clients through the proxy listening at `url`
 * inside it, in both spellings tools read; loopback stays direct.
 */
export function proxyEnv(url: string): Record<string, string> {
  const local = 'localhost,127.0.0.1';
  return { HTTP_PROXY: url, HTTPS_PROXY: url, http_proxy: url, https_proxy: url, NO_PROXY: local, no_proxy: local };
}

export function hostAllowed(host: string, allow: readonly string[]): boolean {
  const name = host
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
  return allow.some((entry) => {
    const e = entry.toLowerCase().replace(/\.$/, '');
    return e.startsWith('*.') ? name.endsWith(e.slice(1)) && name.length > e.length - 1 : name === e;
  });
}

/**
 * Addresses on the worker's own host and networks. The proxy runs in the worker's network
 * namespace, so an allowed name that resolves here (a rebinding DNS answer, a wildcard
 * entry) would reach the Temporal server or other local services. Only an address listed
 * literally in the allowlist may be one of these.
 */
const INTERNAL = new net.BlockList();
for (const [prefix, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const) {
  INTERNAL.addSubnet(prefix, bits, 'ipv4');
}
for (const [prefix, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
] as const)
  INTERNAL.addSubnet(prefix, bits, 'ipv6');

/** The address to connect to for an allowed host, or an error saying why not. */
async function resolveAllowed(
  host: string,
  allow: readonly string[],
): Promise<{ address: string } | { refused: string }> {
  const name = host.replace(/^\[|\]$/g, '');
  if (!hostAllowed(name, allow)) return { refused: `${name} is not in this sandbox's network allowlist` };
  if (net.isIP(name)) return { address: name };
  let address: string;
  try {
    ({ address } = await dns.promises.lookup(name));
  } catch (err) {
    return { refused: `${name} does not resolve (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  if (INTERNAL.check(address, net.isIP(address) === 6 ? 'ipv6' : 'ipv4')) {
    return { refused: `${name} resolves to ${address}, an address of the worker's own network` };
  }
  return { address };
}

const HOP_BY_HOP = new Set([
  'proxy-authorization',
  'proxy-connection',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

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
    if (target.protocol !== 'http:') {
      res.writeHead(400).end('nightshift proxy: only http:// is forwarded; use CONNECT for https\n');
      return;
    }
    void resolveAllowed(target.hostname, allow).then((r) => {
      if ('refused' in r) {
        res.writeHead(403).end(`nightshift proxy: ${r.refused}\n`);
        return;
      }
      const headers: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v;
      // The checked address, not the name again: a second lookup could answer otherwise.
      const upstream = http.request(
        {
          host: r.address,
          port: target.port || 80,
          method: req.method,
          path: `${target.pathname}${target.search}`,
          headers,
        },
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
  });

  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    track(client);
    const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(req.url ?? '');
    const refuse = (why: string) =>
      client.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nnightshift proxy: ${why}\n`);
    if (!m) {
      refuse(`${req.url ?? ''} is not host:port`);
      return;
    }
    client.on('error', () => undefined);
    void resolveAllowed(m[1], allow).then((r) => {
      if ('refused' in r) {
        refuse(r.refused);
        return;
      }
      const upstream = net.connect(Number(m[2]), r.address);
      track(upstream);
      upstream.on('connect', () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length > 0) upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n'));
      client.on('close', () => upstream.destroy());
    });
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
