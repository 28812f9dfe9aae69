/**
 * The product's promise: SIGKILL the worker process while turn k's model call is in
 * flight, start a new one, and the task carries on from the last finished step. The model
 * server sees no completed turn asked again (the one in flight may repeat once), no tool
 * runs twice, and the workspace ends byte-identical to an uninterrupted run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { devServerForFile, testConfig, testWorker } from '../helpers/temporal';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import type { MessagesReply } from '../../demo/messages-server';
import { agentInput, agentSpec, runAgentTask, startAgentTask, withModel, taskResultOf } from './helpers';

const server = devServerForFile();

const TURNS = 12;

/** Turn t appends to a log with bash (repeating it would show), writes a file, and bumps a counter by edit. */
function scripted(turn: number): MessagesReply {
  if (turn === TURNS)
    return message([
      text('Done.'),
      toolUse(`tu_${turn}_fin`, 'finish', { summary: 'twelve turns', verification: 'cat log.txt' }),
    ]);
  const calls = [
    toolUse(`tu_${turn}_a`, 'bash', { command: `echo "turn ${turn} $(cat counter.txt 2>/dev/null)" >> log.txt` }),
  ];
  if (turn === 1) calls.push(toolUse(`tu_${turn}_b`, 'write_file', { path: 'counter.txt', content: 'count=1\n' }));
  else
    calls.push(
      toolUse(`tu_${turn}_b`, 'edit_file', {
        path: 'counter.txt',
        old_text: `count=${turn - 1}\n`,
        new_text: `count=${turn}\n`,
      }),
    );
  if (turn % 3 === 0)
    calls.push(toolUse(`tu_${turn}_c`, 'write_file', { path: `notes/${turn}.md`, content: `# note ${turn}\n` }));
  return message(calls, { usage: { input_tokens: 50, output_tokens: 5 } });
}

/** Every file under `dir` with its bytes, for a byte-for-byte comparison. */
function snapshot(dir: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(path.join(dir, rel)).sort()) {
    const r = path.join(rel, name);
    if (statSync(path.join(dir, r)).isDirectory()) Object.assign(out, snapshot(dir, r));
    else out[r] = readFileSync(path.join(dir, r)).toString('base64');
  }
  return out;
}

const task = () => agentSpec({ id: 'crash', model: 'haiku', maxTurns: 30 });

let reference: Record<string, string>;

test('an uninterrupted 12-turn run (the reference)', async () => {
  const fake = await startFakeAnthropic({ byTurn: scripted });
  try {
    const worker = await testWorker(server.env, withModel(testConfig(server.env), fake.url));
    const { result } = await runAgentTask(server.env, worker, agentInput(task(), { heartbeatTimeoutMs: 2000 }));
    assert.equal(result.status, 'succeeded', result.error);
    assert.equal(result.turns, TURNS);
    reference = snapshot(result.workDir!);
    assert.equal(Buffer.from(reference['log.txt'], 'base64').toString().split('\n').filter(Boolean).length, TURNS - 1);
    assert.deepEqual([...fake.turnCounts().values()], Array(TURNS).fill(1));
  } finally {
    await fake.close();
  }
});

for (const k of [2, 7, 11]) {
  test(`SIGKILL during turn ${k}: resumes without repeating finished turns or tools`, async () => {
    assert.ok(reference, 'the reference run must pass first');
    const root = testConfig(server.env).root;
    let workers: WorkerProcess[] = [];
    let crashed: Promise<void> | undefined;
    const fake = await startFakeAnthropic({
      byTurn: (turn) => {
        if (turn === k && crashed === undefined) {
          // The worker dies with this request in flight; its replacement starts at once.
          crashed = (async () => {
            await workers[0].kill('SIGKILL');
            workers.push(await spawnWorker(vars));
          })();
          return { status: 0, hang: true };
        }
        return scripted(turn);
      },
    });
    const vars = {
      NIGHTSHIFT_ROOT: root,
      TEMPORAL_ADDRESS: server.env.address,
      TEMPORAL_NAMESPACE: 'default',
      ANTHROPIC_API_KEY: 'sk-test',
      ANTHROPIC_BASE_URL: fake.url,
    };
    try {
      workers = [await spawnWorker(vars)];
      const handle = await startAgentTask(server.env, agentInput(task(), { heartbeatTimeoutMs: 2000 }));
      const result = await taskResultOf(handle);
      await crashed;
      assert.ok(crashed, 'the worker was killed');
      assert.equal(result.status, 'succeeded', result.error);
      assert.equal(result.turns, TURNS);

      const counts = fake.turnCounts();
      for (let t = 1; t <= TURNS; t++) {
        if (t === k)
          assert.ok((counts.get(t) ?? 0) <= 2, `turn ${k} (in flight at the kill) asked ${counts.get(t)} times`);
        else assert.equal(counts.get(t), 1, `turn ${t} asked ${counts.get(t)} times`);
      }
      // Tool side effects were not repeated, and the workspace matches the uninterrupted run byte for byte.
      assert.deepEqual(snapshot(result.workDir!), reference);
    } finally {
      for (const w of workers) await w.kill('SIGKILL');
      await fake.close();
    }
  });
}
