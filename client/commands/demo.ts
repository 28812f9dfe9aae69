/**
 * `npm run demo`: the whole product on one machine. Starts the embedded dev server if
 * nothing answers, runs a worker in this process, runs the example night, and prints the
 * Web UI link and the result table. The dev server keeps running afterwards so the run can
 * be inspected in the Web UI.
 */
import * as path from 'node:path';
import { createExampleRepo, EXAMPLE_RECORDING, EXAMPLE_REPO } from '../../demo/example-repo';
import { startReplayModelServer } from '../../demo/replay-server';
import { NIGHTSHIFT_CHECKOUT } from '../../common/checkout';
import type { NightshiftConfig } from '../../common/config';
import { webUiUrl } from '../../common/config';
import { DEMO_TASK_QUEUE } from '../../common/task-queues';
import { shutdownIsolation } from '../../sandbox/local';
import { connectWorker, createNightshiftWorker } from '../../worker';
import { ensureDevServer } from '../server';
import { connectClient } from '../temporal';
import { untilPolled } from '../workers';
import { localDate } from '../format';
import { followBatch, renderStatus, startBatch, webUiLink } from './batch';

export async function runDemo(
  config: NightshiftConfig,
  o: { file: string; json?: boolean },
  print: (s: string) => void,
  info: (s: string) => void,
): Promise<void> {
  const serverPid = await ensureDevServer(config, info);
  // The example agent task works on a small repository the demo creates afresh each run.
  await createExampleRepo(path.join(config.root, EXAMPLE_REPO));
  let replay: Awaited<ReturnType<typeof startReplayModelServer>> | undefined;
  if (!config.anthropic.apiKey && !config.anthropic.baseUrl) {
    replay = await startReplayModelServer(path.join(NIGHTSHIFT_CHECKOUT, EXAMPLE_RECORDING));
    config = { ...config, anthropic: { baseUrl: replay.url } };
    info(
      'no ANTHROPIC_API_KEY: agent tasks are answered by the OFFLINE REPLAY MODEL (a recorded transcript), not a live model',
    );
  }
  const connection = await connectWorker(config);
  // Its own queue: a `npm run worker` running beside it (perhaps without a model) must not take the demo's tasks.
  const worker = await createNightshiftWorker({ config, connection, taskQueue: DEMO_TASK_QUEUE });
  const client = await connectClient(config);
  const date = localDate();
  const { batchId } = await startBatch(client, config, o.file, {
    date,
    workflowId: `nightshift-demo-${date}`,
    rerun: true,
    taskQueue: DEMO_TASK_QUEUE,
  });
  info(`running ${o.file} as ${batchId}`);
  info(`web UI: ${webUiLink(config, batchId)}`);
  const status = await worker.runUntil(async () => {
    await untilPolled(client, DEMO_TASK_QUEUE);
    return followBatch(client, batchId, info);
  });
  await connection.close();
  await replay?.close();
  await shutdownIsolation();
  print(o.json ? JSON.stringify(status, null, 2) : '\n' + renderStatus(status));
  if (replay)
    info(
      '\nagent tasks ran on the offline replay model (marked "replay" in the report); set ANTHROPIC_API_KEY for a live model',
    );
  if (status.report && 'markdown' in status.report)
    info(`\nreport: ${status.report.markdown} (and ${status.report.json})`);
  info(`web UI: ${webUiLink(config, batchId)}`);
  if (serverPid)
    info(`the dev server keeps running for the Web UI (${webUiUrl(config)}); stop it with: kill ${serverPid}`);
  if (status.state !== 'completed') process.exitCode = 1;
}
