/**
 * A PostgreSQL server run from the Debian package's binaries on a data directory of our
 * own: the database `npm run cluster` keeps under .nightshift/, and the throwaway ones
 * tests start. No system service is touched and nothing listens beyond 127.0.0.1.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { inheritedEnv } from '../../common/config';

/** Where `apt-get install postgresql-15` puts the server binaries (scripts/bootstrap.sh --cluster installs it). */
export const POSTGRES_BIN = '/usr/lib/postgresql/15/bin';

export const POSTGRES_USER = 'nightshift';

export interface PostgresOptions {
  /** Holds `data/` (the cluster), `password` and `postgres.log`; created if missing, reused if initialised. */
  dir: string;
  port: number;
  /** Created if missing. @default none */
  database?: string;
  /**
   * Skips fsync and synchronous commit: for throwaway databases whose loss costs nothing,
   * where it makes schema setup several times faster. @default false
   */
  throwaway?: boolean;
  /** Removes `dir` after stop(). @default false */
  removeOnStop?: boolean;
}

export interface PostgresServer {
  /** The directory holding the data, password and log. */
  dir: string;
  host: string;
  port: number;
  user: string;
  password: string;
  /** `postgres://user:password@127.0.0.1:port/database` for `database`, or the `postgres` database. */
  url: string;
  pid: number;
  /** Stops the server (immediately for a throwaway one) and, with removeOnStop, deletes its directory. */
  stop(): Promise<void>;
  /** URL of another database on this server. */
  urlFor(database: string): string;
}

/**
 * initdb and postgres refuse to run as root; under root they run as the package's
 * `postgres` user (or `nobody` when the package did not create one), owning `dir`.
 */
function unprivilegedUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const passwd = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((l) => l.split(':'));
  const entry = passwd.find((f) => f[0] === 'postgres') ?? passwd.find((f) => f[0] === 'nobody');
  if (!entry) throw new Error('running as root and there is neither a postgres nor a nobody user to run PostgreSQL as');
  return { uid: Number(entry[2]), gid: Number(entry[3]) };
}

function asUser(user: { uid: number; gid: number } | undefined, cmd: string, args: string[]): [string, string[]] {
  if (!user) return [cmd, args];
  return ['setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--', cmd, ...args]];
}

function requireBinaries(): void {
  if (!existsSync(path.join(POSTGRES_BIN, 'postgres'))) {
    throw new Error(
      `no PostgreSQL 15 in ${POSTGRES_BIN}: run 'bash scripts/bootstrap.sh --cluster' (it installs the postgresql-15 package)`,
    );
  }
}

function run(cmd: string, args: string[], o: SpawnOptions = {}): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...o });
  if (r.status !== 0)
    throw new Error(
      `${path.basename(cmd)} ${args.join(' ')} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout || r.error?.message || '').toString().trim()}`,
    );
}

/** The server's user must be able to walk down to `dir`; a home directory of mode 0700 on the way stops it. */
function requireReachable(user: { uid: number; gid: number }, dir: string): void {
  const canEnter = (d: string) => spawnSync(...asUser(user, 'test', ['-x', d])).status === 0;
  if (canEnter(dir)) return;
  let blocked = dir;
  for (let d = path.dirname(dir); d !== path.dirname(d); d = path.dirname(d)) if (!canEnter(d)) blocked = d;
  throw new Error(
    `PostgreSQL runs as uid ${user.uid} (initdb refuses root), which cannot enter ${blocked}: allow it (chmod o+x ${blocked}) or choose a directory elsewhere`,
  );
}

/** initdb once per directory; the password is generated then and kept beside the data. */
function initialise(dir: string, user: { uid: number; gid: number } | undefined): string {
  const dataDir = path.join(dir, 'data');
  const passwordFile = path.join(dir, 'password');
  if (existsSync(path.join(dataDir, 'PG_VERSION'))) return readFileSync(passwordFile, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const password = randomBytes(18).toString('base64url');
  writeFileSync(passwordFile, password + '\n', { mode: 0o600 });
  if (user) {
    for (const p of [dir, dataDir, passwordFile]) chownSync(p, user.uid, user.gid);
    requireReachable(user, dir);
  }
  const [cmd, args] = asUser(user, path.join(POSTGRES_BIN, 'initdb'), [
    '--pgdata',
    dataDir,
    '--username',
    POSTGRES_USER,
    '--pwfile',
    passwordFile,
    '--auth',
    'scram-sha-256',
    '--encoding',
    'UTF8',
    '--locale',
    'C',
    '--no-sync',
  ]);
  run(cmd, args);
  return password;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export async function startPostgres(o: PostgresOptions): Promise<PostgresServer> {
  requireBinaries();
  if (await portOpen(o.port))
    throw new Error(`port ${o.port} on 127.0.0.1 is taken: is another PostgreSQL running there? choose another port`);
  mkdirSync(o.dir, { recursive: true });
  const user = unprivilegedUser();
  const password = initialise(o.dir, user);
  const dataDir = path.join(o.dir, 'data');
  const logFile = path.join(o.dir, 'postgres.log');
  const log = openSync(logFile, 'a');
  const settings = [
    'listen_addresses=127.0.0.1',
    `port=${o.port}`,
    // No Unix socket: the package's default directory belongs to the system service.
    'unix_socket_directories=',
    // Two Temporal nodes with their connection pools, the sql tool and the state store.
    'max_connections=200',
    ...(o.throwaway ? ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off'] : []),
  ];
  const [cmd, args] = asUser(user, path.join(POSTGRES_BIN, 'postgres'), [
    '-D',
    dataDir,
    ...settings.flatMap((s) => ['-c', s]),
  ]);
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', log, log] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A test runner that dies without its after() hooks must not leave the server behind.
  const killOnExit = () => child.kill('SIGQUIT');
  process.once('exit', killOnExit);

  const env = { ...inheritedEnv(), PGPASSWORD: password };
  const conn = ['-h', '127.0.0.1', '-p', String(o.port), '-U', POSTGRES_USER];
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `PostgreSQL exited at start (${child.exitCode ?? child.signalCode}); see ${logFile}:\n${readFileSync(logFile, 'utf8').split('\n').slice(-8).join('\n')}`,
      );
    }
    if (spawnSync(path.join(POSTGRES_BIN, 'pg_isready'), [...conn, '-d', 'postgres', '-q'], { env }).status === 0)
      break;
    if (Date.now() > deadline) {
      child.kill('SIGQUIT');
      throw new Error(`PostgreSQL did not accept connections on 127.0.0.1:${o.port} within 60 s; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const urlFor = (database: string) =>
    `postgres://${POSTGRES_USER}:${encodeURIComponent(password)}@127.0.0.1:${o.port}/${encodeURIComponent(database)}`;
  if (o.database) {
    const exists = spawnSync(
      path.join(POSTGRES_BIN, 'psql'),
      [
        ...conn,
        '-d',
        'postgres',
        '-tAc',
        `SELECT 1 FROM pg_database WHERE datname = '${o.database.replace(/'/g, "''")}'`,
      ],
      { env, encoding: 'utf8' },
    );
    if (exists.stdout.trim() !== '1') run(path.join(POSTGRES_BIN, 'createdb'), [...conn, o.database], { env });
  }

  let stopping: Promise<void> | undefined;
  return {
    dir: o.dir,
    host: '127.0.0.1',
    port: o.port,
    user: POSTGRES_USER,
    password,
    url: urlFor(o.database ?? 'postgres'),
    pid: child.pid!,
    urlFor,
    stop() {
      stopping ??= (async () => {
        process.removeListener('exit', killOnExit);
        // SIGQUIT is PostgreSQL's immediate shutdown, SIGINT its fast one that checkpoints first.
        if (child.exitCode === null && child.signalCode === null) child.kill(o.throwaway ? 'SIGQUIT' : 'SIGINT');
        await exited;
        if (o.removeOnStop) rmSync(o.dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

function listenOnce(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => {
      const { port: bound } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(bound));
    });
  });
}

/**
 * A port on 127.0.0.1 nobody listens on at the moment of asking; with `below`, one under
 * it (Temporal keeps membership ports in a smallint column, so they must be below 32768,
 * under the kernel's ephemeral range).
 */
export async function freePort(below?: number): Promise<number> {
  if (below === undefined) return (await listenOnce(0))!;
  for (let i = 0; i < 200; i++) {
    const port = await listenOnce(10_000 + Math.floor(Math.random() * (below - 10_000)));
    if (port !== undefined) return port;
  }
  throw new Error(`no free port on 127.0.0.1 below ${below}`);
}
