/**
 * The Temporal CLI commands of docs/operations.md, run for real: the Temporal CLI starts, queries and updates a
 * batch by its public names, and the nightshift CLI validates, starts and reports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { BatchStatus } from '../../contract';
import { uniqueBatchId } from '../helpers/temporal';
import { createExampleRepo, EXAMPLE_REPO } from '../../demo/example-repo';
import { cliHarness } from '../helpers/cli';

const REPO = path.join(__dirname, '..', '..');
const cli = cliHarness((root) => cpSync(path.join(REPO, 'tasks'), path.join(root, 'tasks'), { recursive: true }));
const { temporal, nightshift } = cli;

/**
 * Errors of a query the workflow cannot answer yet: it is not started (the batch marks a task
 * running before it starts the task's workflow), or its first workflow task has not run (the
 * server holds the query a moment, then refuses it). Anything else fails the test.
 */
const NOT_ANSWERING_YET =
  /workflow not found|not ready to handle|workflow task (has not|not) (been )?(completed|started)/i;

/**
 * A workflow's `status` query through the Temporal CLI, or undefined while it cannot answer.
 * The CLI prints an empty JSON list as null (a loading batch's tasks, a query with no result).
 */
async function cliStatus<T>(workflowId: string): Promise<T | undefined> {
  let stdout: string;
  try {
    ({ stdout } = await temporal(
      'workflow',
      'query',
      '--workflow-id',
      workflowId,
      '--type',
      'status',
      '--output',
      'json',
    ));
  } catch (err) {
    if (NOT_ANSWERING_YET.test((err as { stderr?: string }).stderr ?? '')) return undefined;
    throw err;
  }
  return (JSON.parse(stdout) as { queryResult: T[] | null }).queryResult?.[0] ?? undefined;
}

/** Reads until `done` holds, for at most a minute; the last reading goes into the failure. */
async function until<T>(what: string, read: () => Promise<T | undefined>, done: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 60_000;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (last !== undefined && done(last)) return last;
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(last)} after a minute`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('temporal workflow start / query status / update cancelTask, by their public names', async () => {
  const id = uniqueBatchId();
  writeFileSync(
    path.join(cli.root, 'tasks', 'slow.yaml'),
    'tasks:\n  - id: slow\n    command: sleep 30\n  - id: quick\n    command: echo hi\n',
  );
  await temporal(
    'workflow',
    'start',
    '--type',
    'nightlyBatch',
    '--task-queue',
    'nightshift',
    '--workflow-id',
    id,
    '--input',
    '{"tasksFile":"tasks/slow.yaml"}',
  );
  // The task's own workflow answering shows it started; the batch marks it running a step before that.
  const task = await until(
    'the slow task',
    () => cliStatus<{ taskId: string; status: string }>(`${id}/slow`),
    (t) => t.status === 'running',
  );
  assert.equal(task.taskId, 'slow');
  const status = await until(
    'the batch',
    () => cliStatus<BatchStatus>(id),
    (s) => (s.tasks ?? []).some((t) => t.taskId === 'slow' && t.status === 'running'),
  );
  assert.equal(status.batchId, id);
  assert.equal(status.source, 'tasks/slow.yaml');

  await temporal(
    'workflow',
    'update',
    'execute',
    '--workflow-id',
    id,
    '--name',
    'cancelTask',
    '--input',
    '{"taskId":"slow","reason":"not tonight"}',
  );
  const result = await cli.env.client.workflow.getHandle(id).result();
  assert.deepEqual(
    result.tasks.map((t: { taskId: string; status: string }) => `${t.taskId}:${t.status}`),
    ['slow:cancelled', 'quick:succeeded'],
  );

  // The list reads visibility, which catches up with the workflows a moment after they start;
  // until then it is short, or empty, which the CLI prints as null.
  const listed = async () => {
    const { stdout } = await temporal('workflow', 'list', '--query', `NightshiftBatch='${id}'`, '--output', 'json');
    return ((JSON.parse(stdout) as { execution: { workflowId: string } }[] | null) ?? [])
      .map((w) => w.execution.workflowId)
      .sort();
  };
  assert.deepEqual(await until("the batch's workflows in the list", listed, (ids) => ids.length >= 3), [
    id,
    `${id}/quick`,
    `${id}/slow`,
  ]);
});

test('nightshift validate: exit 3 and every problem; the plan for a good file', async () => {
  writeFileSync(path.join(cli.root, 'tasks', 'bad.yaml'), 'tasks:\n  - id: a\n    depends_on: [b]\n');
  await assert.rejects(nightshift('validate', 'tasks/bad.yaml'), (err: { code: number; stderr: string }) => {
    assert.equal(err.code, 3);
    assert.match(err.stderr, /tasks\/bad\.yaml:3 tasks\[0\]\.depends_on\[0\]: unknown task id "b"/);
    return true;
  });
  const ok = await nightshift('validate', 'tasks/wander');
  assert.match(ok.stdout, /4 tasks in 3 phases/);
  // The example's repository is made by the demo; a repo that does not exist is an error before the night.
  await assert.rejects(nightshift('validate', 'tasks/example.yaml'), (err: { code: number; stderr: string }) => {
    assert.equal(err.code, 3);
    assert.match(err.stderr, /example-agent: context\.repo: .*\.nightshift\/demo\/strings does not exist/);
    return true;
  });
  await createExampleRepo(path.join(cli.root, EXAMPLE_REPO));
  const json = JSON.parse((await nightshift('validate', 'tasks/example.yaml', '--json')).stdout);
  assert.equal(json.ok, true);
  assert.equal(json.spec.tasks.length, 5);
});

test('nightshift start --wait --json runs the example night; status --json reads it back', async () => {
  const id = uniqueBatchId();
  // The example night's command tasks (its agent task needs a model; test/agent covers it).
  const night = readFileSync(path.join(cli.root, 'tasks', 'example.yaml'), 'utf8').split('  - id: example-agent')[0];
  writeFileSync(path.join(cli.root, 'tasks', 'night.yaml'), night);
  const started = await nightshift('start', 'tasks/night.yaml', '--workflow-id', id, '--wait', '--json');
  const final: BatchStatus = JSON.parse(started.stdout);
  assert.equal(final.state, 'completed');
  assert.deepEqual(
    final.tasks.map((t) => t.status),
    ['succeeded', 'succeeded', 'succeeded', 'succeeded'],
  );
  const status: BatchStatus = JSON.parse((await nightshift('status', id, '--json')).stdout);
  assert.equal(status.batchId, id);
  assert.equal(status.tasks[0].summary, 'wrote src/types.ts');
  const table = (await nightshift('status', id)).stdout;
  assert.match(table, /wander-004\s+succeeded/);
  await assert.rejects(nightshift('start', 'tasks/night.yaml', '--workflow-id', id), /already exists/);

  // The batch wrote its morning report; `nightshift report` writes the same files on demand.
  assert.deepEqual(status.report, {
    markdown: `results/${id}-report.md`,
    json: `results/${id}.json`,
    junit: `results/${id}.junit.xml`,
  });
  const md = readFileSync(path.join(cli.root, 'results', `${id}-report.md`), 'utf8');
  assert.match(md, /4 tasks: 4 succeeded, 0 failed, 0 skipped, 0 need a human\./);
  rmSync(path.join(cli.root, 'results'), { recursive: true });
  const { report: printed, ...written } = JSON.parse((await nightshift('report', id, '--json')).stdout) as {
    markdown: string;
    json: string;
    junit: string;
    report: { results: unknown[] };
  };
  assert.deepEqual(written, status.report);
  assert.equal(printed.results.length, 4);
  assert.equal(JSON.parse(readFileSync(path.join(cli.root, written.json), 'utf8')).results.length, 4);
});
