/**
 * The Temporal CLI's habits on nightshift: --address, --namespace, --env (a profile of the
 * Temporal config file), -o json, --version, and `nightshift server` on ports of its own,
 * so a second clone's server and Web UI run beside the first. Two real dev servers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../../common/config';
import { nightshiftCommand, temporalCommand } from '../../client/hints';
import { reachable } from '../../client/server';
import { nightshiftBin } from '../helpers/bin';

const run = promisify(execFile);
const REPO = path.join(__dirname, '..', '..');
const BIN = nightshiftBin();
const TEMPORAL = loadConfig().temporalCli;
const SDK_VERSION = (
  JSON.parse(readFileSync(path.join(REPO, 'node_modules', '@temporalio', 'client', 'package.json'), 'utf8')) as {
    version: string;
  }
).version;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function portFree(port: number): Promise<boolean> {
  return !(await reachable(`127.0.0.1:${port}`, 300));
}

/** A free port whose Web UI default (port + 1000) is free too. */
async function freePortPair(): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (p + 1000 <= 65535 && (await portFree(p + 1000))) return p;
  }
}

/** A clone's root: its own .nightshift/ and one task file. */
function root(): string {
  const r = mkdtempSync(path.join(os.tmpdir(), 'nightshift-flags-'));
  mkdirSync(path.join(r, 'tasks'));
  writeFileSync(path.join(r, 'tasks', 'n.yaml'), 'tasks:\n  - { id: hello, command: "true" }\n');
  return r;
}

/** The environment without a TEMPORAL_ADDRESS of the test runner's, so only flags and profiles speak. */
function cleanEnv(r: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NIGHTSHIFT_ROOT: r, XDG_CONFIG_HOME: path.join(r, 'config') };
  for (const k of Object.keys(env)) if (k.startsWith('TEMPORAL_') && k !== 'TEMPORAL_CLI') delete env[k];
  delete env.NIGHTSHIFT_UI_PORT;
  return { ...env, ...extra };
}

const nightshift = (r: string, args: string[], extra: Record<string, string> = {}) =>
  run(process.execPath, [BIN, ...args], { cwd: r, encoding: 'utf8', env: cleanEnv(r, extra) });
const failing = (p: Promise<unknown>) =>
  p.then(
    () => assert.fail('expected the command to fail'),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

interface Server {
  root: string;
  port: number;
  uiPort: number;
  child: ChildProcess;
}
const servers: Server[] = [];

/** `nightshift server` in its own root, as a person in a second clone would run it. */
async function startServer(args: (port: number) => string[], uiPortOf: (port: number) => number): Promise<Server> {
  const r = root();
  const port = await freePortPair();
  const child = spawn(process.execPath, [BIN, 'server', ...args(port)], {
    cwd: r,
    env: cleanEnv(r),
    detached: true,
    stdio: 'ignore',
  });
  const s = { root: r, port, uiPort: uiPortOf(port), child };
  servers.push(s);
  const deadline = Date.now() + 60_000;
  while (!(await reachable(`127.0.0.1:${port}`)) || !(await reachable(`127.0.0.1:${s.uiPort}`))) {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`nightshift server on ${port} did not come up`);
    await new Promise((res) => setTimeout(res, 300));
  }
  return s;
}

let first: Server;
let second: Server;
before(async () => {
  const uiPort = await freePort();
  // The first with an explicit Web UI port; the second on the default, its port + 1000, and a namespace of its own.
  first = await startServer(
    (p) => ['--address', `127.0.0.1:${p}`, '--ui-port', String(uiPort)],
    () => uiPort,
  );
  second = await startServer(
    (p) => ['--address', `127.0.0.1:${p}`, '-n', 'other'],
    (p) => p + 1000,
  );
});
after(() => {
  // The server command and the Temporal CLI it runs share a process group.
  for (const s of servers) if (s.child.pid) process.kill(-s.child.pid, 'SIGTERM');
});

test('two `nightshift server`s on other ports each serve Temporal and a Web UI', async () => {
  for (const s of [first, second]) {
    const res = await fetch(`http://127.0.0.1:${s.uiPort}/`);
    assert.equal(res.status, 200, `Web UI of the server on ${s.port}`);
    assert.match(await res.text(), /<html/i);
  }
  assert.notEqual(first.uiPort, 8233);
});

test('--address and -n pick the server and namespace, after the command or before it; links name that Web UI', async () => {
  const started = await nightshift(second.root, [
    'start',
    'tasks/n.yaml',
    '--workflow-id',
    'flags-ns',
    '--address',
    `127.0.0.1:${second.port}`,
    '-n',
    'other',
    '-o',
    'json',
  ]);
  const out = JSON.parse(started.stdout) as { batchId: string; webUi: string };
  assert.equal(out.webUi, `http://127.0.0.1:${second.port + 1000}/namespaces/other/workflows/flags-ns`);
  await run(TEMPORAL, [
    'workflow',
    'describe',
    '--address',
    `127.0.0.1:${second.port}`,
    '-n',
    'other',
    '-w',
    'flags-ns',
  ]);
  const elsewhere = await failing(
    run(TEMPORAL, ['workflow', 'describe', '--address', `127.0.0.1:${first.port}`, '-w', 'flags-ns']),
  );
  assert.match(elsewhere.stderr, /not found/i);
  // Global flags before the command work as well.
  const listed = await failing(nightshift(second.root, ['--address', `127.0.0.1:${first.port}`, 'status', 'flags-ns']));
  assert.equal(listed.code, 5, 'no such batch on the first server');
});

test('--env picks a profile of the Temporal config file; an unknown profile is a usage error', async () => {
  const r = root();
  mkdirSync(path.join(r, 'config', 'temporalio'), { recursive: true });
  writeFileSync(
    path.join(r, 'config', 'temporalio', 'temporal.toml'),
    `[profile.first]\naddress = "127.0.0.1:${first.port}"\n\n[profile.second]\naddress = "127.0.0.1:${second.port}"\nnamespace = "other"\n`,
  );
  const started = JSON.parse(
    (await nightshift(r, ['--env', 'first', 'start', 'tasks/n.yaml', '--workflow-id', 'flags-profile', '--json']))
      .stdout,
  ) as { webUi: string };
  assert.equal(started.webUi, `http://127.0.0.1:${first.port + 1000}/namespaces/default/workflows/flags-profile`);
  await run(TEMPORAL, ['workflow', 'describe', '--address', `127.0.0.1:${first.port}`, '-w', 'flags-profile']);
  // --profile is the same flag; a flag wins over the profile's value.
  await nightshift(r, [
    'start',
    'tasks/n.yaml',
    '--workflow-id',
    'flags-profile-2',
    '--profile',
    'second',
    '-n',
    'default',
  ]);
  await run(TEMPORAL, ['workflow', 'describe', '--address', `127.0.0.1:${second.port}`, '-w', 'flags-profile-2']);
  const unknown = await failing(nightshift(r, ['status', '--env', 'nope']));
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^nightshift: Profile 'nope' not found/m);
});

test('-o json is --json on every command that has it, and a usage error on one that has not', async () => {
  const r = root();
  const models = JSON.parse((await nightshift(r, ['models', '-o', 'json'])).stdout) as {
    aliases: Record<string, string>;
  };
  assert.equal(typeof models.aliases.sonnet, 'string');
  const validated = JSON.parse((await nightshift(r, ['--output', 'json', 'validate', 'tasks/n.yaml'])).stdout) as {
    ok: boolean;
  };
  assert.equal(validated.ok, true);
  const text = await nightshift(r, ['validate', 'tasks/n.yaml', '-o', 'text']);
  assert.match(text.stdout, /1 task in 1 phase/);
  const worker = await failing(nightshift(r, ['worker', '-o', 'json']));
  assert.equal(worker.code, 2);
  assert.match(worker.stderr, /^nightshift: -o json: `worker` has no JSON output$/m);
  const bad = await failing(nightshift(r, ['models', '-o', 'yaml']));
  assert.equal(bad.code, 2);
});

test('--version prints the package version and the git commit', async () => {
  const { stdout } = await nightshift(root(), ['--version']);
  const commit = (await run('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' })).stdout.trim();
  assert.equal(stdout, `nightshift 0.1.0 (commit ${commit}), Temporal TypeScript SDK ${SDK_VERSION}\n`);
});

test('hints name commands that run: the status hint printed by start runs as printed', async () => {
  const started = await nightshift(second.root, [
    'start',
    'tasks/n.yaml',
    '--workflow-id',
    'flags-hint',
    '--address',
    `127.0.0.1:${second.port}`,
    '-n',
    'other',
  ]);
  const hint = /^ {2}status: (.+)$/m.exec(started.stdout)?.[1];
  assert.ok(hint, started.stdout);
  // Outside the clone, and with no nightshift on PATH, the hint is node with the bin's path; it repeats the connection flags.
  assert.equal(hint, `node ${BIN} --address 127.0.0.1:${second.port} --namespace other status flags-hint`);
  // Run as a person pastes it: it reaches the same batch; no worker answers here, which it says.
  const pasted = await failing(
    run('/bin/sh', ['-c', hint], { cwd: second.root, env: cleanEnv(second.root), encoding: 'utf8' }),
  );
  assert.equal(pasted.code, 4);
  assert.match(pasted.stderr, /no worker is polling task queue nightshift/);
});

test('hint spellings: on PATH the bare names; in the clone npx; the Temporal CLI by its full path when not on PATH', () => {
  const bin = mkdtempSync(path.join(os.tmpdir(), 'nightshift-path-'));
  for (const name of ['nightshift', 'temporal']) writeFileSync(path.join(bin, name), '#!/bin/sh\n', { mode: 0o755 });
  const config = { temporalCli: TEMPORAL };
  assert.equal(nightshiftCommand({ searchPath: [bin] }, os.tmpdir()), 'nightshift');
  assert.equal(temporalCommand(config, { searchPath: [bin] }), 'temporal');
  assert.equal(nightshiftCommand({ searchPath: ['/nonexistent'] }, REPO), 'npx nightshift');
  assert.equal(
    nightshiftCommand({ searchPath: ['/nonexistent'], npmScript: 'nightshift' }, path.join(REPO, 'tasks')),
    'npm run nightshift --',
  );
  assert.equal(temporalCommand(config, { searchPath: ['/nonexistent'] }), TEMPORAL);
});
