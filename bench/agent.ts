/**
 * bench:agent: a 20-turn agent task against a zero-latency scripted model (loopback
 * Messages API, real SDK) and the real local sandbox, run by agentTask on the dev server,
 * next to the same model and tool calls made in-process (the same activity functions,
 * called one after another). Prints the orchestration overhead per turn (median, p95),
 * history bytes per turn, and the worker's RSS.
 *
 *   npm run bench:agent [-- --turns 20 --eager | --cluster]
 *
 * `--cluster` runs it on the two-node cluster of `npm run cluster` (throwaway PostgreSQL,
 * worker and client on node A) with the postgres state store, instead of the dev server and
 * the file store; the in-process baseline then uses the same store. The cluster executes
 * activities eagerly (its dynamic config), so compare it with `--eager` on the dev server.
 *
 * Tools are file tools (write, read, edit, list) so the sandbox's process start-up does not
 * drown the figure; a turn's time is the gap between consecutive model requests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';
import { createActivities } from '../activities';
import type { MessagesReply } from '../demo/messages-server';
import { keys, transcriptsIn } from '../activities/task/transcripts';
import type { NightshiftConfig } from '../common/config';
import { openStateStore, type StateStore } from '../common/store';
import { shutdownIsolation } from '../sandbox/os-isolation';
import { agentInput, agentSpec, historyBytes, runAgentTask, withModel, workflowIdOf } from '../test/agent/helpers';
import { message, startFakeAnthropic, text, toolUse, type FakeAnthropic } from '../test/fakes/anthropic-server';
import { clusterConfig, startTestCluster } from '../test/helpers/cluster';
import { startDevServer, testConfig } from '../test/helpers/temporal';
import { createNightshiftWorker } from '../worker';
import { taskRunKey } from '../workflows/task/messages';
import { machine, median, peakRssMiB, percentile } from './stats';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const TURNS = arg('turns', 20);

function scripted(turn: number): MessagesReply {
  const usage = { usage: { input_tokens: 2000, output_tokens: 150, cache_read_input_tokens: 10_000 } };
  if (turn >= TURNS)
    return message([text('Done.'), toolUse(`tu_${turn}`, 'finish', { summary: 'bench', verification: 'none' })], usage);
  const f = `src/file${turn % 5}.txt`;
  switch (turn % 4) {
    case 1:
      return message([toolUse(`tu_${turn}`, 'write_file', { path: f, content: `turn ${turn}\n`.repeat(50) })], usage);
    case 2:
      return message([toolUse(`tu_${turn}`, 'read_file', { path: `src/file${(turn - 1) % 5}.txt` })], usage);
    case 3:
      return message(
        [
          toolUse(`tu_${turn}`, 'edit_file', {
            path: `src/file${(turn - 2) % 5}.txt`,
            old_text: `turn ${turn - 2}\n`,
            new_text: `edited ${turn}\n`,
            replace_all: true,
          }),
        ],
        usage,
      );
    default:
      return message([toolUse(`tu_${turn}`, 'list_files', { path: '.', depth: 3 })], usage);
  }
}

/** Per-turn times: the gap between the request for turn t and for turn t+1. */
function turnTimes(fake: FakeAnthropic): number[] {
  const at = fake.requests.map((r) => r.at);
  return at.slice(1).map((t, i) => t - at[i]);
}

/** The baseline: the same activities called directly, in order, with no Temporal between them. */
async function inProcess(config: NightshiftConfig, store: StateStore): Promise<{ times: number[]; wallMs: number }> {
  const fake = await startFakeAnthropic({ byTurn: scripted });
  try {
    const acts = createActivities({ config: withModel(config, fake.url), store });
    const env = new MockActivityEnvironment();
    const run = <A, R>(fn: (a: A) => Promise<R>, a: A) => env.run(fn, a) as Promise<R>;
    const workflowId = `bench/in-process-${Date.now()}`;
    const task = agentSpec({ id: 'bench', maxTurns: TURNS + 5, model: 'sonnet' });
    const { sandboxId } = await run(acts.createAgentSandbox, { workflowId });
    await run(acts.prepareAgent, { workflowId, sandboxId, task });
    const t0 = performance.now();
    for (let turn = 1; ; turn++) {
      const mt = await run(acts.callModel, { workflowId, turn, model: 'claude-sonnet-5-5' });
      for (const c of mt.toolCalls)
        if (c.name !== 'finish') await run(acts.runTool, { workflowId, turn, toolUseId: c.id, sandboxId });
      if (mt.finish) break;
    }
    const wallMs = performance.now() - t0;
    await run(acts.killSandbox, { sandboxId });
    return { times: turnTimes(fake), wallMs };
  } finally {
    await fake.close();
  }
}

/** Where the bench runs: a Temporal frontend, a client and a worker connection to it, and the settings for its worker. */
interface BenchServer {
  label: string;
  /** Whether the server hands an activity to the worker with the workflow task that scheduled it. */
  eager: boolean;
  client: Client;
  workerConnection: NativeConnection;
  config: NightshiftConfig;
}

/**
 * Starts the server the flags ask for; every step registers its undo on `cleanups` as soon
 * as it has succeeded, so a failure half-way still stops what did start.
 */
async function startServer(cluster: boolean, eager: boolean, cleanups: (() => Promise<void>)[]): Promise<BenchServer> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-bench-agent-'));
  cleanups.push(async () => rmSync(root, { recursive: true, force: true }));
  if (!cluster) {
    const env = await startDevServer(
      eager ? ['--dynamic-config-value', 'system.enableActivityEagerExecution=true'] : [],
    );
    cleanups.push(() => env.teardown());
    return {
      label: 'dev server, file store',
      eager,
      client: env.client,
      workerConnection: env.nativeConnection,
      config: testConfig(env, root),
    };
  }
  const c = await startTestCluster({ storeDatabase: 'nightshift' });
  cleanups.push(() => c.stop());
  const address = c.addresses[0];
  const connection = await Connection.connect({ address });
  cleanups.push(() => connection.close());
  const workerConnection = await NativeConnection.connect({ address });
  cleanups.push(() => workerConnection.close());
  return {
    label: 'two-node cluster on PostgreSQL 15, postgres store',
    // The cluster's dynamic config turns it on, as `npm run cluster` does for users.
    eager: true,
    client: new Client({ connection, namespace: c.namespace }),
    workerConnection,
    config: { ...clusterConfig(c, address, root), store: { kind: 'postgres', url: c.postgres.urlFor('nightshift') } },
  };
}

async function main(cleanups: (() => Promise<void>)[]) {
  const eager = process.argv.includes('--eager');
  const cluster = process.argv.includes('--cluster');
  // Last: the sandbox runtime's network proxies would otherwise keep the process alive.
  cleanups.push(() => shutdownIsolation());
  const server = await startServer(cluster, eager, cleanups);
  const store = await openStateStore(server.config);
  cleanups.push(() => store.close());
  const fake = await startFakeAnthropic({ byTurn: scripted });
  cleanups.push(() => fake.close());

  const config = server.config;
  const worker = await createNightshiftWorker({
    config: withModel(config, fake.url),
    connection: server.workerConnection,
    deps: { store },
  });
  // Warm-up: bundle, sandbox runtime and connections, so the timed runs measure steady state.
  await inProcess(config, store);

  const input = agentInput(agentSpec({ id: 'bench', maxTurns: TURNS + 5, model: 'sonnet' }), {
    heartbeatTimeoutMs: 30_000,
  });
  const t0 = performance.now();
  const { result, firstRunId } = await runAgentTask(server, worker, input);
  const temporalWallMs = performance.now() - t0;
  if (result.status !== 'succeeded') throw new Error(`bench task ${result.status}: ${result.error}`);
  const temporalTimes = turnTimes(fake);
  const rssNow = process.memoryUsage().rss / 2 ** 20;
  const rssPeak = peakRssMiB();
  const h = await historyBytes(server, workflowIdOf(input), firstRunId);

  const base = await inProcess(config, store);
  const overhead = temporalTimes.map((t, i) => t - (base.times[i] ?? 0));
  // Sanity: the transcript really grew, while history did not. The task keeps it under its first run's key.
  const transcriptTurn = await transcriptsIn(store).get(taskRunKey(workflowIdOf(input), firstRunId), keys.turn(1));
  if (!transcriptTurn)
    throw new Error(`no transcript of turn 1 in the ${config.store.kind} store: the bench measured something else`);

  console.log(
    [
      `bench:agent · ${new Date().toISOString().slice(0, 10)} · ${machine()}`,
      `${result.turns} turns, zero-latency scripted model on loopback, local sandbox, file tools, ${server.label}${server.eager ? ', eager activity execution' : ''}`,
      `temporal wall          ${temporalWallMs.toFixed(0)} ms (${(temporalWallMs / result.turns).toFixed(1)} ms/turn, incl. sandbox create/prepare/keep/kill)`,
      `in-process wall        ${base.wallMs.toFixed(0)} ms (${(base.wallMs / result.turns).toFixed(1)} ms/turn, model + tool calls only)`,
      `per-turn time          temporal median ${median(temporalTimes).toFixed(1)} ms · in-process median ${median(base.times).toFixed(1)} ms`,
      `orchestration overhead median ${median(overhead).toFixed(1)} ms/turn · p95 ${percentile(overhead, 95).toFixed(1)} ms/turn`,
      `history                ${h.events} events · ${h.bytes} bytes over ${h.runs} run(s) = ${(h.bytes / result.turns).toFixed(0)} B/turn (${(h.events / result.turns).toFixed(1)} events/turn)`,
      `worker RSS             ${rssNow.toFixed(0)} MiB now · ${rssPeak.toFixed(0)} MiB peak (worker, client, fake model and bundler in one process)`,
      `transcript turn 1      ${transcriptTurn.length} bytes in the ${config.store.kind} store, none of it in history`,
    ].join('\n'),
  );
}

/** Undoes in reverse order of starting; one failing undo does not skip the others. */
async function runCleanups(cleanups: (() => Promise<void>)[]): Promise<void> {
  for (const undo of cleanups.splice(0).reverse())
    await undo().catch((err: unknown) => console.error('bench:agent cleanup:', err));
}

const cleanups: (() => Promise<void>)[] = [];
// Ctrl-C must not leave a cluster and its PostgreSQL running behind the bench.
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const)
  process.once(signal, () => void runCleanups(cleanups).finally(() => process.exit(code)));
main(cleanups)
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => runCleanups(cleanups));
