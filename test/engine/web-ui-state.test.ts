/**
 * What the Web UI is told, read back from a real dev server: a failed task is a Failed
 * workflow (the list, the batch's timeline and the task page show it) while the batch
 * still gets its result; the batch's current details stay one table whatever the tasks
 * wrote, with dollar amounts as text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { devServerForFile, testConfig, testWorker, uniqueBatchId } from '../helpers/temporal';
import { TASK_QUEUE } from '../../contract';
import type { BatchResult } from '../../contract';

const server = devServerForFile();

const METADATA_QUERY = '__temporal_workflow_metadata';

test('a failed task ends as a Failed workflow; the batch keeps its result and skips its dependents', async () => {
  const config = testConfig(server.env);
  const worker = await testWorker(server.env, config);
  const id = uniqueBatchId();
  const spec = {
    max_cost_usd: 10,
    tasks: [
      { id: 'fine', command: 'echo all good' },
      // A multi-line error holding a table's cell separator and dollar signs.
      { id: 'broken', command: "printf 'first line\\nsecond | line costs $5 of $10\\n'; exit 3" },
      { id: 'after', command: 'echo never', depends_on: ['broken'] },
    ],
  };
  const { result, details } = await worker.runUntil(async () => {
    const handle = await server.env.client.workflow.start('nightlyBatch', {
      taskQueue: TASK_QUEUE,
      workflowId: id,
      args: [{ spec }],
    });
    const r: BatchResult = await handle.result();
    const meta = (await handle.query(METADATA_QUERY)) as { currentDetails?: string };
    return { result: r, details: meta.currentDetails ?? '' };
  });

  const by = Object.fromEntries(result.tasks.map((t) => [t.taskId, t]));
  assert.equal(by.fine.status, 'succeeded');
  assert.equal(by.broken.status, 'failed');
  assert.match(by.broken.error ?? '', /command exited with 3: first line\nsecond \| line costs \$5 of \$10/);
  assert.ok(by.broken.endedAt, "the batch has the task's own result, with its timing");
  assert.equal(by.after.status, 'skipped');

  const statusOf = async (wf: string) => (await server.env.client.workflow.getHandle(wf).describe()).status.name;
  assert.equal(await statusOf(`${id}/broken`), 'FAILED', 'the Web UI lists the failed task as Failed');
  assert.equal(await statusOf(`${id}/fine`), 'COMPLETED');
  assert.equal(await statusOf(id), 'COMPLETED', 'the night itself ran to its end');

  // The batch's current details: one table, every row one line, money escaped from math.
  const lines = details.split('\n');
  const table = lines.slice(lines.findIndex((l) => l.startsWith('| task |')));
  assert.ok(table.length >= 4, details);
  for (const row of table) assert.match(row, /^\|.*\|$/, `a row broke out of the table: ${JSON.stringify(row)}`);
  assert.equal(table.length, 2 + 3, 'header, rule and one row per task that ran or was skipped');
  assert.ok(details.includes('\\$0.00 of \\$10.00'), details);
  assert.ok(
    table.some((r) => r.includes('first line second \\| line costs \\$5 of \\$10')),
    details,
  );
  assert.doesNotMatch(details.replace(/\\\$/g, ''), /\$/, 'no unescaped dollar sign left for the math renderer');
});
