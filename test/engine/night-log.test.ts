/**
 * `log_file`: a worker process appends the night's task events to the file the
 * task file names, one line each; a path inside `.nightshift/` is refused before the
 * night; a link planted at the log's name is not followed; the file stops at its bound.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TASK_QUEUE } from '../../contract';
import { NIGHT_LOG_MAX_BYTES, nightLogPath } from '../../common/night-log-path';
import { preflight } from '../../taskfile/preflight';
import { loadBatchSpec } from '../../taskfile/load';
import { NightLogs } from '../../worker/night-log';
import type { BatchResult } from '../../contract';
import { devServerForFile, testConfig, uniqueBatchId } from '../helpers/temporal';
import { spawnWorker } from '../helpers/worker-process';

const server = devServerForFile();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test(
  'a worker appends the night to its log_file: each task event a line, agent text kept to one line',
  { timeout: 240_000 },
  async () => {
    const config = testConfig(server.env);
    const worker = await spawnWorker({
      TEMPORAL_ADDRESS: server.env.address,
      TEMPORAL_NAMESPACE: 'default',
      NIGHTSHIFT_ROOT: config.root,
      ANTHROPIC_API_KEY: '',
      ANTHROPIC_BASE_URL: '',
    });
    const log = path.join(config.root, 'logs', 'overnight.log');
    try {
      const batchId = uniqueBatchId('night-log');
      const spec = {
        description: 'Overnight',
        tasks: [
          { id: 'ok', title: 'ok', command: 'echo fine' },
          { id: 'broken', title: 'broken', command: 'printf "bad\\033[31m\\nnews"; exit 3' },
        ],
        settings: { log_file: 'logs/overnight.log' },
      };
      const result = (await server.env.client.workflow.execute('nightlyBatch', {
        taskQueue: TASK_QUEUE,
        workflowId: batchId,
        args: [{ spec }],
      })) as BatchResult;
      assert.deepEqual(result.tasks.map((t) => `${t.taskId}:${t.status}`).sort(), ['broken:failed', 'ok:succeeded']);
      let lines: string[] = [];
      for (
        const until = Date.now() + 20_000;
        !lines.some((l) => l.endsWith(`${batchId} completed`));
        await sleep(200)
      ) {
        assert.ok(Date.now() < until, `the night's end never reached ${log}:\n${lines.join('\n')}\n${worker.output()}`);
        lines = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
      }
      const at = (s: string) => lines.findIndex((l) => l.includes(s));
      assert.ok(
        lines.every((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z \S+ /.test(l)),
        lines.join('\n'),
      );
      assert.ok(at(`${batchId} logging to ${log}`) >= 0, lines.join('\n'));
      assert.ok(at(`${batchId}/ok command exited 0`) >= 0, lines.join('\n'));
      assert.ok(at(`${batchId}/broken command exited 3`) >= 0, lines.join('\n'));
      assert.match(
        lines[at(`${batchId}/broken failed: `)] ?? '',
        /command exited with 3: bad \[31m news$/,
        'the failure is one line, its escape character gone',
      );
      assert.ok(at(`${batchId}/ok succeeded`) < at(`${batchId} completed`));
      assert.ok(!lines.join('\n').includes('\u001b'), 'no terminal escape from command output reaches the log');
      assert.equal(statSync(log).mode & 0o777, 0o600);
    } finally {
      await worker.kill('SIGKILL');
    }
  },
);

test('log_file inside .nightshift/, or as ~user, is a validate error; ~/ and relative paths resolve', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-night-log-'));
  assert.deepEqual(nightLogPath('~/.orchestrator/logs/overnight.log', { root, home: '/home/me' }), {
    path: '/home/me/.orchestrator/logs/overnight.log',
  });
  assert.deepEqual(nightLogPath('logs/run.log', { root, home: '/home/me' }), {
    path: path.join(root, 'logs', 'run.log'),
  });
  for (const bad of [
    '.nightshift/work/t/run.log',
    './.nightshift',
    'logs/../.nightshift/x.log',
    '~bob/run.log',
    'logs/',
  ]) {
    assert.ok('error' in nightLogPath(bad, { root, home: '/home/me' }), bad);
  }
  writeFileSync(
    path.join(root, 'night.yaml'),
    'settings:\n  log_file: .nightshift/sandboxes/run.log\ntasks:\n  - id: c\n    title: c\n    command: "true"\n',
  );
  const spec = await loadBatchSpec('night.yaml', root);
  const { errors, warnings } = await preflight(spec, root);
  assert.deepEqual(
    errors.map((e) => e.path),
    ['log_file'],
  );
  assert.match(errors[0].message, /inside .*\.nightshift, where the agents' workspaces/);
  assert.ok(!warnings.some((w) => w.path === 'log_file'));
});

test('the log is not written through a link planted at its name, and stops at its bound', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-night-log-'));
  const said: string[] = [];
  const logs = new NightLogs({ root, home: root, say: (l) => said.push(l) });
  const target = path.join(root, 'elsewhere.txt');
  writeFileSync(target, 'untouched\n');
  mkdirSync(path.join(root, 'logs'));
  symlinkSync(target, path.join(root, 'logs', 'linked.log'));
  logs.learn('night-a', 'logs/linked.log');
  logs.append({ event: 'task.started', workflowId: 'night-a/t', text: 'started' }, new Date().toISOString());
  await logs.flushed();
  assert.equal(readFileSync(target, 'utf8'), 'untouched\n');
  assert.equal(said.length, 1);
  assert.match(said[0], /cannot write the night's log .*linked\.log/);

  const full = path.join(root, 'logs', 'full.log');
  writeFileSync(full, 'x'.repeat(NIGHT_LOG_MAX_BYTES - 300) + '\n', { mode: 0o600 });
  logs.learn('night-b', 'logs/full.log');
  for (let i = 0; i < 50; i++)
    logs.append(
      { event: 'task.turn', workflowId: 'night-b/t', text: `turn ${i}: ${'y'.repeat(100)}` },
      new Date().toISOString(),
    );
  await logs.flushed();
  const size = statSync(full).size;
  assert.ok(size <= NIGHT_LOG_MAX_BYTES, `${size} bytes`);
  const tail = readFileSync(full, 'utf8').split('\n').filter(Boolean).slice(-1)[0];
  assert.match(tail, /this log reached its bound of 10 MiB/);
});
