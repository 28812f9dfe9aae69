/**
 * bench:agent: a 20-turn agent task against a zero-latency scripted model (loopback
 * Messages API, real SDK) and the real local sandbox, run by agentTask on the dev server,
 * next to the same model and tool calls made in-process (the same activity functions,
 * called one after another). Prints the orchestration overhead per turn (median, p95),
 * history bytes per turn, and the worker's RSS.
 *
 *   npm run bench:agent [-- --turns 20 --eager]
 *
 * Tools are file tools (write, read, edit, list) so the sandbox's process start-up does not
 * drown the figure; a turn's time is the gap between consecutive model requests.
 */
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../activities';
import type { MessagesReply } from '../activities/model/messages-server';
import { FileTranscriptStore, keys, transcriptsDir } from '../activities/transcripts';
import { shutdownIsolation } from '../sandbox/os-isolation';
import { agentInput, agentSpec, historyBytes, runAgentTask, withModel, workflowIdOf } from '../test/agent/helpers';
import { message, startFakeAnthropic, text, toolUse, type FakeAnthropic } from '../test/fakes/anthropic-server';
import { startDevServer, testConfig, testWorker } from '../test/helpers/temporal';
import { machine, median, peakRssMiB, percentile } from './stats';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const TURNS = arg('turns', 20);

function scripted(turn: number): MessagesReply {
  const usage = { usage: { input_tokens: 2000, output_tokens: 150, cache_read_input_tokens: 10_000 } };
  if (turn >= TURNS) return message([text('Done.'), toolUse(`tu_${turn}`, 'finish', { summary: 'bench', verification: 'none' })], usage);
  const f = `src/file${turn % 5}.txt`;
  switch (turn % 4) {
    case 1:
      return message([toolUse(`tu_${turn}`, 'write_file', { path: f, content: `turn ${turn}\n`.repeat(50) })], usage);
    case 2:
      return message([toolUse(`tu_${turn}`, 'read_file', { path: `src/file${(turn - 1) % 5}.txt` })], usage);
    case 3:
      return message([toolUse(`tu_${turn}`, 'edit_file', { path: `src/file${(turn - 2) % 5}.txt`, old_text: `turn ${turn - 2}\n`, new_text: `edited ${turn}\n`, replace_all: true })], usage);
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
async function inProcess(config: ReturnType<typeof testConfig>): Promise<{ times: number[]; wallMs: number }> {
  const fake = await startFakeAnthropic({ byTurn: scripted });
  try {
    const acts = createActivities({ config: withModel(config, fake.url) });
    const env = new MockActivityEnvironment();
    const run = <A, R>(fn: (a: A) => Promise<R>, a: A) => env.run(fn, a) as Promise<R>;
    const workflowId = `bench/in-process-${Date.now()}`;
    const task = agentSpec({ id: 'bench', maxTurns: TURNS + 5, model: 'sonnet' });
    const { sandboxId } = await run(acts.createAgentSandbox, { workflowId });
    await run(acts.prepareAgent, { workflowId, sandboxId, task });
    const t0 = performance.now();
    for (let turn = 1; ; turn++) {
      const mt = await run(acts.callModel, { workflowId, turn, model: 'claude-sonnet-5-5' });
      for (const c of mt.toolCalls) if (c.name !== 'finish') await run(acts.runTool, { workflowId, turn, toolUseId: c.id, sandboxId });
      if (mt.finish) break;
    }
    const wallMs = performance.now() - t0;
    await run(acts.killSandbox, { sandboxId });
    return { times: turnTimes(fake), wallMs };
  } finally {
    await fake.close();
  }
}

async function main() {
  const eager = process.argv.includes('--eager');
  const env = await startDevServer(eager ? ['--dynamic-config-value', 'system.enableActivityEagerExecution=true'] : []);
  const fake = await startFakeAnthropic({ byTurn: scripted });
  try {
    const config = testConfig(env, mkdtempSync(path.join(os.tmpdir(), 'nightshift-bench-agent-')));
    const worker = await testWorker(env, withModel(config, fake.url));
    // Warm-up: bundle, sandbox runtime and connections, so the timed runs measure steady state.
    await inProcess(config);

    const input = agentInput(agentSpec({ id: 'bench', maxTurns: TURNS + 5, model: 'sonnet' }), { heartbeatTimeoutMs: 30_000 });
    const t0 = performance.now();
    const { result, firstRunId } = await runAgentTask(env, worker, input);
    const temporalWallMs = performance.now() - t0;
    if (result.status !== 'succeeded') throw new Error(`bench task ${result.status}: ${result.error}`);
    const temporalTimes = turnTimes(fake);
    const rssNow = process.memoryUsage().rss / 2 ** 20;
    const rssPeak = peakRssMiB();
    const h = await historyBytes(env, workflowIdOf(input), firstRunId);

    const base = await inProcess(config);
    const overhead = temporalTimes.map((t, i) => t - (base.times[i] ?? 0));
    // Sanity: the transcript really grew, while history did not.
    const transcriptTurn = await new FileTranscriptStore({ dir: transcriptsDir(config) }).get(workflowIdOf(input), keys.turn(1));

    console.log(
      [
        `bench:agent · ${new Date().toISOString().slice(0, 10)} · ${machine()}`,
        `${result.turns} turns, zero-latency scripted model on loopback, local sandbox, file tools${eager ? ', eager activity execution' : ''}`,
        `temporal wall          ${temporalWallMs.toFixed(0)} ms (${(temporalWallMs / result.turns).toFixed(1)} ms/turn, incl. sandbox create/prepare/keep/kill)`,
        `in-process wall        ${base.wallMs.toFixed(0)} ms (${(base.wallMs / result.turns).toFixed(1)} ms/turn, model + tool calls only)`,
        `per-turn time          temporal median ${median(temporalTimes).toFixed(1)} ms · in-process median ${median(base.times).toFixed(1)} ms`,
        `orchestration overhead median ${median(overhead).toFixed(1)} ms/turn · p95 ${percentile(overhead, 95).toFixed(1)} ms/turn`,
        `history                ${h.events} events · ${h.bytes} bytes over ${h.runs} run(s) = ${(h.bytes / result.turns).toFixed(0)} B/turn (${(h.events / result.turns).toFixed(1)} events/turn)`,
        `worker RSS             ${rssNow.toFixed(0)} MiB now · ${rssPeak.toFixed(0)} MiB peak (worker, client, fake model and bundler in one process)`,
        `transcript turn 1      ${transcriptTurn?.length ?? 0} bytes in the store, none of it in history`,
      ].join('\n'),
    );
  } finally {
    await fake.close();
    await env.teardown();
    await shutdownIsolation();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
