/**
 * A loopback fake of E2B: the control-plane REST API (create, list by metadata and state,
 * info, connect and resume, pause, kill, with auto-pause on timeout) and, at a second
 * address the SDK reaches as its sandbox URL, envd's process and filesystem services as
 * the JS SDK speaks them (Connect protocol in its JSON encoding: unary calls as
 * `application/json`, server streams as enveloped `application/connect+json`) plus its
 * `/files` HTTP API.
 *
 * Each E2B sandbox is a local sandbox underneath (sandbox/local.ts), so commands really run
 * under bubblewrap: E2B's `/home/user` is the local sandbox's workspace root, and paths
 * elsewhere are refused. Any route, RPC or path the fake does not serve answers with an
 * error naming it, so a new SDK call fails a test instead of passing unseen.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { listenOnLoopback } from '../../common/loopback';
import { createLocalProvider } from '../../sandbox/local';
import type { NetworkPolicy, Sandbox } from '../../sandbox/types';

export const FAKE_E2B_HOME = '/home/user';
/** New enough that the SDK uploads files as octet streams (0.5.7) and closes stdin (0.5.2). */
const FAKE_ENVD_VERSION = '0.5.8';

export interface FakeSandbox {
  sandboxID: string;
  templateID: string;
  metadata: Record<string, string>;
  envVars: Record<string, string>;
  body: Record<string, unknown>;
  startedAt: string;
  state: 'running' | 'paused';
  /** Times the sandbox was resumed from `paused` by a connect. */
  resumed: number;
  local: Sandbox;
  timer?: NodeJS.Timeout;
}

export interface FakeE2B {
  /** Control plane (E2B_API_URL). */
  url: string;
  /** envd of every sandbox, told apart by the SDK's `E2b-Sandbox-Id` header (E2B_SANDBOX_URL). */
  sandboxUrl: string;
  sandboxes: Map<string, FakeSandbox>;
  /** Every sandbox ever created, killed ones included. */
  created: FakeSandbox[];
  /** `METHOD /path` of every control-plane request, and `RPC service/Method` or `METHOD /files` of envd's. */
  requests: string[];
  /** What the sandbox's timeout does when it elapses (the real service's onTimeout). */
  expire(id: string): void;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

class FakeError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Connect's codes, as HTTP statuses for unary errors. */
const CONNECT_STATUS: Record<string, number> = {
  invalid_argument: 400,
  not_found: 404,
  unimplemented: 501,
  unavailable: 503,
  internal: 500,
  deadline_exceeded: 504,
};

/** `localRoot`: where the local sandboxes underneath live. @default a new temporary directory, removed by close() */
export async function startFakeE2B(apiKey: string, o: { localRoot?: string } = {}): Promise<FakeE2B> {
  const sandboxes = new Map<string, FakeSandbox>();
  const requests: string[] = [];
  const created: FakeSandbox[] = [];
  /** Running commands by pid, for SendSignal; and the pids it killed. */
  const processes = new Map<number, AbortController>();
  const killed: number[] = [];
  const localRoot = o.localRoot ?? fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-fake-e2b-'));
  const local = createLocalProvider({ root: localRoot });
  let n = 0;

  const readBody = (req: http.IncomingMessage) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
  const sendJson = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const info = (s: FakeSandbox) => ({
    sandboxID: s.sandboxID,
    templateID: s.templateID,
    clientID: 'fake',
    envdVersion: FAKE_ENVD_VERSION,
    envdAccessToken: `envd-${s.sandboxID}`,
    domain: null,
    metadata: s.metadata,
    startedAt: s.startedAt,
    endAt: s.startedAt,
    state: s.state,
    cpuCount: 1,
    memoryMB: 512,
    diskSizeMB: 1024,
  });
  const remove = async (s: FakeSandbox) => {
    clearTimeout(s.timer);
    sandboxes.delete(s.sandboxID);
    await s.local.kill().catch(() => false);
  };
  const expire = (id: string) => {
    const s = sandboxes.get(id);
    if (!s) return;
    clearTimeout(s.timer);
    if (s.body.autoPause === true) s.state = 'paused';
    else void remove(s);
  };
  const arm = (s: FakeSandbox, seconds: unknown) => {
    clearTimeout(s.timer);
    if (typeof seconds === 'number' && seconds > 0)
      s.timer = setTimeout(() => expire(s.sandboxID), seconds * 1000).unref();
  };

  async function controlPlane(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    raw: Buffer,
  ): Promise<void> {
    if (req.headers['x-api-key'] !== apiKey) return sendJson(res, 401, { code: 401, message: 'bad api key' });
    let m: RegExpMatchArray | null;
    if (req.method === 'POST' && url.pathname === '/v2/sandboxes') {
      const body = JSON.parse(raw.toString()) as Json;
      const network = body.network as { allowOut?: string[] } | undefined;
      const policy: NetworkPolicy = network?.allowOut?.length ? { allow: network.allowOut } : 'none';
      const envVars = (body.envVars as Record<string, string>) ?? {};
      const underneath = await local.create({
        key: `e2b-${randomBytes(8).toString('hex')}`,
        envs: envVars,
        network: policy,
      });
      // Named and dated only now, when it becomes visible: a list never shows an older sandbox after a newer one.
      const id = `fake${++n}x${process.pid}`;
      const s: FakeSandbox = {
        sandboxID: id,
        templateID: String(body.templateID),
        metadata: (body.metadata as Record<string, string>) ?? {},
        envVars,
        body,
        startedAt: new Date(Date.now() + n).toISOString(),
        state: 'running',
        resumed: 0,
        local: underneath,
      };
      sandboxes.set(id, s);
      created.push(s);
      arm(s, body.timeout);
      return sendJson(res, 201, info(s));
    }
    if (req.method === 'GET' && url.pathname === '/v2/sandboxes') {
      const want = new URLSearchParams(url.searchParams.get('metadata') ?? '');
      const states = url.searchParams.getAll('state').flatMap((v) => v.split(','));
      // The SDK encodes each key and value before it encodes the whole query string.
      const list = [...sandboxes.values()].filter(
        (s) =>
          [...want].every(([k, v]) => s.metadata[decodeURIComponent(k)] === decodeURIComponent(v)) &&
          (states.length === 0 || states.includes(s.state)),
      );
      return sendJson(res, 200, list.map(info));
    }
    if ((m = url.pathname.match(/^\/(?:v2\/)?sandboxes\/([^/]+)(\/[a-z]+)?$/))) {
      const s = sandboxes.get(m[1]);
      if (!s) return sendJson(res, 404, { code: 404, message: `sandbox ${m[1]} not found` });
      const action = `${req.method} ${url.pathname.startsWith('/v2/') ? 'v2' : 'v1'} ${m[2] ?? ''}`;
      if (action === 'POST v2 /connect') {
        if (s.state === 'paused') s.resumed++;
        s.state = 'running';
        arm(s, (JSON.parse(raw.toString() || '{}') as Json).timeout ?? s.body.timeout);
        return sendJson(res, 200, info(s));
      }
      if (action === 'GET v1 ') return sendJson(res, 200, info(s));
      if (action === 'DELETE v1 ') {
        await remove(s);
        res.writeHead(204);
        return void res.end();
      }
      if (action === 'POST v1 /pause') {
        if (s.state === 'paused') return sendJson(res, 409, { code: 409, message: 'already paused' });
        clearTimeout(s.timer);
        s.state = 'paused';
        res.writeHead(204);
        return void res.end();
      }
      if (action === 'POST v1 /timeout') {
        arm(s, (JSON.parse(raw.toString()) as Json).timeout);
        res.writeHead(204);
        return void res.end();
      }
    }
    throw new FakeError(501, 'unimplemented', `fake e2b: no route for ${req.method} ${url.pathname}`);
  }

  /** envd paths are absolute; the fake serves the ones under /home/user, which is the local workspace root. */
  const localPath = (p: unknown): string => {
    if (typeof p !== 'string' || !path.posix.isAbsolute(p))
      throw new FakeError(400, 'invalid_argument', `fake envd: path ${JSON.stringify(p)} is not absolute`);
    const rel = path.posix.relative(FAKE_E2B_HOME, path.posix.normalize(p));
    if (rel.startsWith('..'))
      throw new FakeError(400, 'invalid_argument', `fake envd: serves paths under ${FAKE_E2B_HOME} only, not ${p}`);
    return rel || '.';
  };
  const homePath = (rel: string) => path.posix.join(FAKE_E2B_HOME, rel);
  const notFound = (err: unknown, p: string) =>
    (err as NodeJS.ErrnoException).code === 'ENOENT'
      ? new FakeError(404, 'not_found', `fake envd: ${p} not found`)
      : err;

  function sandboxOf(req: http.IncomingMessage): FakeSandbox {
    const id = String(req.headers['e2b-sandbox-id'] ?? '');
    const s = sandboxes.get(id);
    // What E2B's edge answers for a sandbox that is not running: 502, which the SDK reads as "gone or timed out".
    if (!s || s.state !== 'running') throw new FakeError(502, 'unavailable', `fake e2b: sandbox ${id} is not running`);
    if (req.headers['x-access-token'] !== `envd-${id}`)
      throw new FakeError(401, 'unauthenticated', 'fake envd: wrong access token');
    return s;
  }

  async function envd(req: http.IncomingMessage, res: http.ServerResponse, url: URL, raw: Buffer): Promise<void> {
    if (req.method === 'GET' && url.pathname === '/health') {
      const s = sandboxes.get(String(req.headers['e2b-sandbox-id'] ?? ''));
      res.writeHead(s?.state === 'running' ? 204 : 502);
      return void res.end();
    }
    const s = sandboxOf(req);
    if (url.pathname === '/files') {
      requests.push(`${req.method} /files`);
      const p = url.searchParams.get('path') ?? '';
      const rel = localPath(p);
      if (req.method === 'GET') {
        const data = await s.local
          .readFile(rel, { maxBytes: 4 * 1024 * 1024 * 1024 })
          .catch((err: unknown) => Promise.reject(notFound(err, p)));
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(data.byteLength) });
        return void res.end(data);
      }
      if (req.method === 'POST') {
        if (req.headers['content-type'] !== 'application/octet-stream')
          throw new FakeError(
            415,
            'invalid_argument',
            `fake envd: POST /files takes application/octet-stream only, not ${req.headers['content-type']}`,
          );
        await s.local.writeFile(rel, raw);
        return sendJson(res, 200, [{ name: path.posix.basename(p), type: 'file', path: p }]);
      }
    }
    const rpc = /^\/([a-z]+\.[A-Za-z]+)\/([A-Za-z]+)$/.exec(url.pathname);
    if (req.method !== 'POST' || !rpc)
      throw new FakeError(501, 'unimplemented', `fake envd: no route for ${req.method} ${url.pathname}`);
    const method = `${rpc[1]}/${rpc[2]}`;
    requests.push(`RPC ${method}`);
    if (method === 'process.Process/Start') return startProcess(s, req, res, raw);
    if (method === 'process.Process/SendSignal') {
      const body = JSON.parse(raw.toString() || '{}') as { process?: { pid?: number }; signal?: string | number };
      if (body.signal !== 'SIGNAL_SIGKILL' && body.signal !== 9)
        throw new FakeError(400, 'invalid_argument', `fake envd: sends SIGKILL only, not ${String(body.signal)}`);
      const running = processes.get(Number(body.process?.pid));
      if (!running) throw new FakeError(404, 'not_found', `fake envd: no process ${String(body.process?.pid)}`);
      running.abort();
      killed.push(Number(body.process?.pid));
      return sendJson(res, 200, {});
    }
    if (req.headers['content-type'] !== 'application/json')
      throw new FakeError(
        415,
        'invalid_argument',
        `fake envd: ${method} expects the Connect JSON encoding, got ${req.headers['content-type']}`,
      );
    const body = JSON.parse(raw.toString() || '{}') as Json;
    if (method === 'filesystem.Filesystem/ListDir') {
      const rel = localPath(body.path);
      const stat = await s.local.list(path.posix.dirname(rel), { depth: 1 }).catch(() => []);
      if (rel !== '.' && !stat.some((e) => e.path === rel && e.type === 'dir'))
        throw new FakeError(404, 'not_found', `fake envd: directory ${String(body.path)} not found`);
      const entries = await s.local.list(rel, { depth: Number(body.depth ?? 1) });
      return sendJson(res, 200, {
        entries: entries.map((e) => ({
          name: path.posix.basename(e.path),
          path: homePath(e.path),
          size: String(e.size),
          // FileType: 1 file, 2 directory, 3 symlink.
          type: e.symlink ? 3 : e.type === 'dir' ? 2 : 1,
          mode: e.type === 'dir' ? 0o755 : 0o644,
          permissions: '',
          owner: 'user',
          group: 'user',
        })),
      });
    }
    throw new FakeError(501, 'unimplemented', `fake envd: RPC ${method} is not implemented`);
  }

  /** Connect server streaming: every message (and the end of the stream) in a 5-byte envelope. */
  async function startProcess(
    s: FakeSandbox,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    raw: Buffer,
  ): Promise<void> {
    if (req.headers['content-type'] !== 'application/connect+json')
      throw new FakeError(
        415,
        'invalid_argument',
        `fake envd: Start expects application/connect+json, got ${req.headers['content-type']}`,
      );
    const request = JSON.parse(raw.subarray(5, 5 + raw.readUInt32BE(1)).toString()) as {
      process: { cmd: string; args?: string[]; envs?: Record<string, string>; cwd?: string };
      stdin?: boolean;
    };
    const { cmd, args = [], envs, cwd } = request.process;
    if (cmd !== '/bin/bash' || args.length !== 3 || args[1] !== '-c')
      throw new FakeError(
        400,
        'invalid_argument',
        `fake envd: runs only /bin/bash -l -c <command>, not ${cmd} ${args.join(' ')}`,
      );
    const timeoutMs = Number(req.headers['connect-timeout-ms'] ?? 0) || undefined;
    const frame = (flags: number, msg: unknown) => {
      const json = Buffer.from(JSON.stringify(msg));
      const head = Buffer.alloc(5);
      head.writeUInt8(flags, 0);
      head.writeUInt32BE(json.length, 1);
      res.write(Buffer.concat([head, json]));
    };
    res.writeHead(200, { 'content-type': 'application/connect+json' });
    const pid = 1000 + ++n;
    frame(0, { event: { start: { pid } } });
    const abort = new AbortController();
    processes.set(pid, abort);
    res.on('close', () => abort.abort());
    try {
      const r = await s.local.exec(args[2], {
        cwd: localPath(cwd ?? homePath('.')),
        envs,
        timeoutMs,
        signal: abort.signal,
        // CappedOutput hands over text; envd sends bytes, base64 in JSON.
        onOutput: () => undefined,
      });
      if (r.stdout) frame(0, { event: { data: { stdout: Buffer.from(r.stdout).toString('base64') } } });
      if (r.stderr) frame(0, { event: { data: { stderr: Buffer.from(r.stderr).toString('base64') } } });
      if (r.timedOut)
        frame(2, { error: { code: 'deadline_exceeded', message: `fake envd: the command ran past ${timeoutMs} ms` } });
      else {
        frame(0, { event: { end: { exitCode: r.exitCode, exited: true, status: `exit status ${r.exitCode}` } } });
        frame(2, {});
      }
    } catch (err) {
      // A process killed by SendSignal ends as envd reports it: signal: killed.
      if (killed.includes(pid)) {
        frame(0, { event: { end: { exitCode: -1, exited: false, status: 'signal: killed' } } });
        frame(2, {});
      } else if (!abort.signal.aborted)
        frame(2, { error: { code: 'internal', message: `fake envd: ${(err as Error).message}` } });
    } finally {
      processes.delete(pid);
    }
    res.end();
  }

  const handler = (api: typeof controlPlane) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    void (async () => {
      const raw = await readBody(req);
      if (api === controlPlane) requests.push(`${req.method} ${url.pathname}`);
      await api(req, res, url, raw);
    })().catch((err: unknown) => {
      if (res.headersSent) return void res.end();
      const e = err instanceof FakeError ? err : new FakeError(500, 'internal', `fake e2b: ${(err as Error).message}`);
      // Connect unary errors carry a string code; the REST API and envd's /files a numeric one.
      const rpc = /^\/[a-z]+\.[A-Za-z]+\//.test(url.pathname);
      sendJson(
        res,
        rpc ? (CONNECT_STATUS[e.code] ?? e.status) : e.status,
        rpc ? { code: e.code, message: e.message } : { code: e.status, message: e.message },
      );
    });
  };
  const api = await listenOnLoopback(http.createServer(handler(controlPlane)));
  const envdServer = await listenOnLoopback(http.createServer(handler(envd)));
  return {
    url: `http://127.0.0.1:${api.port}`,
    sandboxUrl: `http://127.0.0.1:${envdServer.port}`,
    sandboxes,
    created,
    requests,
    expire,
    async close() {
      for (const s of [...sandboxes.values()]) await remove(s);
      await Promise.all([api.close(), envdServer.close()]);
      if (!o.localRoot) fs.rmSync(localRoot, { recursive: true, force: true });
    },
  };
}
