/**
 * Records the histories of a few completed batches (and one of their tasks) as replay
 * fixtures under test/fixtures/histories/, named by a label: `npx tsx
 * scripts/record-histories.ts LABEL` (say, the release). test/replay.test.ts replays every
 * fixture on every CI run, so histories recorded by earlier versions keep proving that
 * today's code does not break the workflows they left running: a fixture is never
 * re-recorded, and this script refuses to overwrite one.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { loadConfig } from '../common/config';
import { batchStatusQuery, cancelTaskUpdate, INTAKE_WORKFLOW, TASK_QUEUE, type IntakeInput } from '../contract';
import { startDevServer, testConfig, testWorker } from '../test/helpers/temporal';

const OUT = path.join(__dirname, '..', 'test', 'fixtures', 'histories');

const SCENARIOS: { name: string; spec: unknown; cancel?: string; historyEventLimit?: number }[] = [
  {
    name: 'wander-dag',
    spec: {
      max_concurrent_agents: 2,
      tasks: [
        { id: 'w1', command: 'echo one' },
        { id: 'w2', depends_on: ['w1'], command: 'echo two' },
        { id: 'w3', depends_on: ['w1'], command: 'echo three' },
        { id: 'w4', depends_on: ['w2', 'w3'], command: 'echo four' },
      ],
    },
  },
  {
    name: 'failure-skips-dependents',
    spec: {
      tasks: [
        { id: 'bad', command: 'exit 2' },
        { id: 'after', depends_on: ['bad'], command: 'true' },
        { id: 'free', command: 'true' },
      ],
    },
  },
  {
    name: 'cancel-running-task',
    spec: {
      tasks: [
        { id: 'slow', command: 'sleep 30' },
        { id: 'after', depends_on: ['slow'], command: 'true' },
      ],
    },
    cancel: 'slow',
  },
  {
    // Continues as new several times: the recorded history is the last run, which starts from what the earlier ones carried.
    name: 'continued-as-new',
    spec: {
      max_concurrent_agents: 2,
      tasks: [
        { id: 'n1', command: 'echo one' },
        { id: 'n2', depends_on: ['n1'], command: 'echo two' },
        { id: 'n3', command: 'exit 3' },
        { id: 'n4', depends_on: ['n3'], command: 'true' },
        { id: 'n5', depends_on: ['n2'], command: 'echo five' },
        { id: 'n6', command: 'echo six' },
      ],
    },
    historyEventLimit: 30,
  },
];

/** The Temporal CLI's JSON export, the format historyFromJSON reads, without failure stack traces (they hold this machine's paths, and replay never reads them). */
function historyJson(address: string, workflowId: string): string {
  const exported = execFileSync(
    loadConfig().temporalCli,
    ['workflow', 'show', '--address', address, '--workflow-id', workflowId, '--output', 'json'],
    { encoding: 'utf8' },
  );
  return (
    JSON.stringify(
      JSON.parse(exported, (key, value: unknown) => (key === 'stackTrace' ? '' : value)),
      null,
      2,
    ) + '\n'
  );
}

async function main() {
  const label = process.argv[2];
  if (!label || !/^[a-z0-9.-]+$/.test(label))
    throw new Error(
      'usage: npx tsx scripts/record-histories.ts LABEL (lower-case letters, digits, . and -), e.g. the release: 0.2.0',
    );
  const fileOf = (name: string, kind: string) => `${name}.${label}.${kind}.json`;
  const planned = [
    ...SCENARIOS.flatMap((s) => [fileOf(s.name, 'batch'), fileOf(s.name, 'task')]),
    fileOf('intake-batch-mode', 'intake'),
  ];
  for (const f of planned)
    if (existsSync(path.join(OUT, f))) throw new Error(`${f} exists; fixtures are never re-recorded, pick a new label`);
  const env = await startDevServer();
  try {
    const config = testConfig(env);
    const worker = await testWorker(env, config);
    const index: Record<string, string> = JSON.parse(readFileSync(path.join(OUT, 'index.json'), 'utf8'));
    await worker.runUntil(async () => {
      for (const s of SCENARIOS) {
        const workflowId = `nightshift-replay-${s.name}`;
        const handle = await env.client.workflow.start('nightlyBatch', {
          taskQueue: TASK_QUEUE,
          workflowId,
          args: [
            { spec: s.spec, ...(s.historyEventLimit !== undefined ? { historyEventLimit: s.historyEventLimit } : {}) },
          ],
        });
        if (s.cancel) {
          while (
            !(await handle.query(batchStatusQuery)).tasks.some((t) => t.taskId === s.cancel && t.status === 'running')
          ) {
            await new Promise((r) => setTimeout(r, 100));
          }
          await handle.executeUpdate(cancelTaskUpdate, { args: [{ taskId: s.cancel }] });
        }
        await handle.result();
        const firstTask = (s.spec as { tasks: { id: string }[] }).tasks[0].id;
        writeFileSync(path.join(OUT, fileOf(s.name, 'batch')), historyJson(env.address, workflowId));
        writeFileSync(path.join(OUT, fileOf(s.name, 'task')), historyJson(env.address, `${workflowId}/${firstTask}`));
        index[fileOf(s.name, 'batch')] = workflowId;
        index[fileOf(s.name, 'task')] = `${workflowId}/${firstTask}`;
        console.log(`recorded ${s.name}`);
      }
      // The intake is AUTO_UPGRADE (workflows/versioning.ts): a deploy replays its runs on the new code, so its history matters most.
      const pending = path.join(config.root, 'tasks', 'pending');
      mkdirSync(pending, { recursive: true });
      for (const f of ['running', 'completed', 'failed'])
        mkdirSync(path.join(config.root, 'tasks', f), { recursive: true });
      writeFileSync(path.join(pending, 'first.yaml'), 'id: first\npriority: 5\ncommand: echo first\n');
      writeFileSync(path.join(pending, 'second.yaml'), 'id: second\ndepends_on: first\ncommand: echo second\n');
      const intakeId = 'nightshift-replay-intake';
      const input: IntakeInput = { mode: 'batch', folder: 'tasks', pollIntervalMs: 200 };
      await (
        await env.client.workflow.start(INTAKE_WORKFLOW, { taskQueue: TASK_QUEUE, workflowId: intakeId, args: [input] })
      ).result();
      writeFileSync(path.join(OUT, fileOf('intake-batch-mode', 'intake')), historyJson(env.address, intakeId));
      index[fileOf('intake-batch-mode', 'intake')] = intakeId;
      console.log('recorded intake-batch-mode');
    });
    // Replay needs each history's workflow ID: child IDs are derived from it.
    writeFileSync(path.join(OUT, 'index.json'), JSON.stringify(index, null, 2) + '\n');
  } finally {
    await env.teardown();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
