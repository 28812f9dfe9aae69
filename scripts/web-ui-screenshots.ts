/**
 * Screenshots of the Temporal Web UI after a small night with a failed task, for a person
 * to look at (the Web UI is a browser app; its rendering cannot be read any other way):
 * the workflow list (is the failed task marked Failed?) and the batch's page (does its
 * current-details table render, with dollar amounts as text?).
 *
 *   npx tsx scripts/web-ui-screenshots.ts [OUT_DIR]
 *
 * Needs Chromium on PATH (`apt-get install -y chromium`). Starts its own dev server with
 * the UI on a free port, and a worker, in a temporary NIGHTSHIFT_ROOT.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadConfig } from '../common/config';
import { SEARCH_ATTRIBUTES, TASK_QUEUE, type BatchResult } from '../contract';
import { shutdownIsolation } from '../sandbox/os-isolation';
import { createNightshiftWorker } from '../worker';

const run = promisify(execFile);

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function screenshot(url: string, file: string): Promise<void> {
  // The UI is a single-page app: give it virtual time to fetch and render.
  await run(
    'chromium',
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--hide-scrollbars',
      '--window-size=1600,1000',
      '--virtual-time-budget=15000',
      `--screenshot=${file}`,
      url,
    ],
    { timeout: 120_000 },
  );
}

async function main(): Promise<void> {
  const out = path.resolve(process.argv[2] ?? mkdtempSync(path.join(os.tmpdir(), 'nightshift-ui-')));
  mkdirSync(out, { recursive: true });
  const uiPort = await freePort();
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: loadConfig().temporalCli },
      ui: true,
      uiPort,
      searchAttributes: Object.values(SEARCH_ATTRIBUTES),
      extraArgs: ['--log-level', 'error'],
    },
  });
  try {
    const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-ui-root-'));
    const base = loadConfig({ ...process.env, NIGHTSHIFT_ROOT: root });
    const config = {
      ...base,
      temporal: { ...base.temporal, address: env.address, namespace: 'default', connection: { address: env.address } },
    };
    const worker = await createNightshiftWorker({ config, connection: env.nativeConnection });
    const batchId = `nightshift-ui-${Date.now().toString(36)}`;
    const spec = {
      max_cost_usd: 10,
      tasks: [
        { id: 'fine', command: 'echo all good' },
        { id: 'broken', command: "printf 'first line\\nsecond | line costs $5 of $10\\n'; exit 3" },
        { id: 'after', command: 'echo never', depends_on: ['broken'] },
      ],
    };
    const handle = await env.client.workflow.start('nightlyBatch', {
      taskQueue: TASK_QUEUE,
      workflowId: batchId,
      args: [{ spec }],
    });
    const result: BatchResult = await worker.runUntil(handle.result());
    console.log(result.tasks.map((t) => `${t.taskId}: ${t.status}`).join(', '));
    const ui = `http://127.0.0.1:${uiPort}/namespaces/default/workflows`;
    await screenshot(ui, path.join(out, 'workflows.png'));
    await screenshot(`${ui}/${encodeURIComponent(batchId)}`, path.join(out, 'batch.png'));
    await screenshot(`${ui}/${encodeURIComponent(`${batchId}/broken`)}`, path.join(out, 'failed-task.png'));
    // The batch's current details are on its User Metadata tab (read through a query, so the worker runs meanwhile).
    const answering = await createNightshiftWorker({ config, connection: env.nativeConnection });
    await answering.runUntil(
      screenshot(
        `${ui}/${encodeURIComponent(batchId)}/${handle.firstExecutionRunId}/user-metadata`,
        path.join(out, 'batch-details.png'),
      ),
    );
    console.log(`screenshots in ${out}: workflows.png, batch.png, failed-task.png, batch-details.png`);
  } finally {
    await env.teardown();
    await shutdownIsolation();
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
