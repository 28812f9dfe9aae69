/**
 * The exit-code table of docs/cli.md, row by row, through the real CLI against a real dev
 * server; first with no worker at all (the commands that need one say so within seconds),
 * then with one.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { NightshiftWorker } from '../../worker';
import { startDevServer, testConfig, testWorker, uniqueBatchId } from '../helpers/temporal';
import { shutdownIsolation } from '../../sandbox/os-isolation';
import { nightshiftBin } from '../helpers/bin';

const NO_WORKER = /^nightshift: no worker is polling task queue nightshift; start one with `npm run worker`$/m;
/**
 * Beyond the CLI's own start-up (measured: `--help`), well below the ~35 s the server held
 * a query for a worker that was not there. Not a speed target: it tells the two apart.
 */
const PROMPT_MARGIN_MS = 20_000;

let env: TestWorkflowEnvironment;
let root: string;
let worker: NightshiftWorker | undefined;
let workerDone: Promise<void> | undefined;

before(async () => {
  env = await startDevServer();
  root = testConfig(env).root;
  mkdirSync(path.join(root, 'tasks'), { recursive: true });
  writeFileSync(path.join(root, 'tasks', 'ok.yaml'), 'tasks:\n  - id: hello\n    command: echo hello\n');
  writeFileSync(
    path.join(root, 'tasks', 'fails.yaml'),
    'tasks:\n  - id: broken\n    command: exit 3\n  - id: fine\n    command: echo fine\n',
  );
  writeFileSync(path.join(root, 'tasks', 'bad.yaml'), 'tasks:\n  - id: a\n    depends_on: [b]\n');
});

after(async () => {
  worker?.shutdown();
  await workerDone;
  await env?.teardown();
  await shutdownIsolation();
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

function nightshift(args: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [nightshiftBin(), ...args],
      {
        cwd: root,
        encoding: 'utf8',
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: env.address,
          NIGHTSHIFT_ROOT: root,
          NIGHTSHIFT_DEBUG: '',
          ...extraEnv,
        },
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr, ms: Date.now() - t0 }),
    );
  });
}

function noStack(r: Run): void {
  assert.doesNotMatch(r.stderr, /^\s+at /m, `a stack trace was printed:\n${r.stderr}`);
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

test('no worker: start --wait, status, report and questions say so within seconds and exit 4', async () => {
  const PROMPT_MS = (await nightshift(['--help'])).ms + PROMPT_MARGIN_MS;
  const waited = await nightshift(['start', 'tasks/ok.yaml', '--wait', '--workflow-id', uniqueBatchId()]);
  assert.equal(waited.code, 4, waited.stderr);
  assert.match(waited.stderr, NO_WORKER);
  assert.ok(waited.ms < PROMPT_MS, `start --wait took ${waited.ms} ms`);
  noStack(waited);

  // Without --wait the batch is started (it waits on the server) and the person is told.
  const id = uniqueBatchId();
  const started = await nightshift(['start', 'tasks/ok.yaml', '--workflow-id', id]);
  assert.equal(started.code, 0, started.stderr);
  assert.match(started.stdout, new RegExp(`started ${id}`));
  assert.match(
    started.stderr,
    /note: no worker is polling task queue nightshift; start one with `npm run worker`; the batch waits until one does/,
  );

  for (const args of [['status', id], ['report', id], ['questions']]) {
    const r = await nightshift(args);
    assert.equal(r.code, 4, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, NO_WORKER, args.join(' '));
    assert.doesNotMatch(r.stdout, /no open questions/, 'questions does not claim there are none');
    assert.ok(r.ms < PROMPT_MS, `${args.join(' ')} took ${r.ms} ms`);
    noStack(r);
  }
});

test('every row of the exit-code table', async () => {
  worker = await testWorker(env, testConfig(env, root));
  workerDone = worker.run();

  // 0: ok.
  const ok = await nightshift(['start', 'tasks/ok.yaml', '--wait', '--workflow-id', uniqueBatchId()]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((await nightshift(['validate', 'tasks/ok.yaml'])).code, 0);
  assert.equal((await nightshift(['--help'])).code, 0);

  // 1: a task did not succeed: start --wait and status of that night.
  const failing = uniqueBatchId();
  const f = await nightshift(['start', 'tasks/fails.yaml', '--wait', '--workflow-id', failing]);
  assert.equal(f.code, 1, f.stdout + f.stderr);
  assert.match(f.stdout, /broken\s+failed/);
  const st = await nightshift(['status', failing]);
  assert.equal(st.code, 1, 'status of a night with a failed task');
  assert.match(st.stdout, /broken\s+failed/);

  // 1: the intake rejected a file that does not validate.
  mkdirSync(path.join(root, 'intake', 'pending'), { recursive: true });
  writeFileSync(path.join(root, 'intake', 'pending', 'good.yaml'), 'id: good\ncommand: echo good\n');
  writeFileSync(
    path.join(root, 'intake', 'pending', 'rejected.yaml'),
    'id: rejected\ndepends_on: [nowhere]\nnot_a_field: 1\n',
  );
  const once = await nightshift([
    'start',
    '--mode',
    'once',
    'intake',
    '--wait',
    '--workflow-id',
    uniqueBatchId('intake'),
  ]);
  assert.equal(once.code, 1, once.stdout + once.stderr);
  noStack(once);

  // 2: usage: one line and a hint, not the whole help.
  for (const args of [
    ['start'],
    ['start', 'tasks/ok.yaml', '--no-such-flag'],
    ['no-such-command'],
    ['cancel'],
    ['budget', 'raise', 'b', 'lots'],
  ]) {
    const r = await nightshift(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /Commands:|Options:/, `${args.join(' ')} reprinted the help:\n${r.stderr}`);
    noStack(r);
  }
  const cron = await nightshift([
    'schedule',
    'create',
    '--cron',
    'every night at two',
    '--tasks',
    'tasks/ok.yaml',
    '--id',
    uniqueBatchId('sched'),
  ]);
  assert.equal(cron.code, 2, cron.stderr);
  assert.match(cron.stderr, /^nightshift: .*every night at two/m);
  noStack(cron);

  // 3: an invalid task file.
  const bad = await nightshift(['validate', 'tasks/bad.yaml']);
  assert.equal(bad.code, 3);
  assert.match(bad.stderr, /unknown task id "b"/);
  assert.equal((await nightshift(['start', 'tasks/bad.yaml'])).code, 3);

  // 4: Temporal unreachable.
  const down = await nightshift(['status'], { TEMPORAL_ADDRESS: `127.0.0.1:${await closedPort()}` });
  assert.equal(down.code, 4, down.stderr);
  assert.match(down.stderr, /cannot reach Temporal/);
  noStack(down);

  // 5: not found.
  const missing = await nightshift(['status', 'no-such-batch']);
  assert.equal(missing.code, 5);
  assert.match(missing.stderr, /no batch "no-such-batch"/);
});
