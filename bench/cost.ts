/**
 * bench:cost: what prompt caching and the Message Batches API save, against the fake's
 * caching Messages API (real SDK on loopback; the fake counts tokens at 4 characters each,
 * caches by prefix at the request's breakpoints with 5-minute and 1-hour TTLs and a minimum
 * cacheable length, and bills as the API does).
 *
 *   npm run bench:cost [-- --turns 40 --repos 20 --per-turn]
 *
 * Three agent runs of the same requests: the agent loop as it is (keep-alives during long
 * waits, the TTL chosen by the loop, workflows/task/cache-warmth.ts), the loop as it was before
 * keep-alives (no keep-alive; after a gap that outlived the cache every call writes for an
 * hour), and caching off.
 *
 * 1. An agent task of 40 turns through the real callModel activity (request building,
 *    cache breakpoints, elision with hysteresis, the 1-hour TTL after a long gap), each turn
 *    a tool call whose output joins the conversation, so the context passes the elision
 *    threshold of haiku 4.5's 200K window. Two tool calls take eight minutes, on a virtual
 *    clock shared by the fake's cache and the activity, so no real minutes pass. The same
 *    requests are billed once with caching and once by a fake that does not cache.
 * 2. Simple mode over 20 repos through the real simple-mode activities: once with the
 *    Messages API (simpleModelCall), once with the Batches API (submit, poll, collect).
 *
 * Targets (issue 16): >= 85 % of input tokens read from cache and a cost <= 1/3 of the
 * uncached one; the batch run's cost 0.5 ± 0.01 of the Messages run's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAnthropicClient } from '../activities/model/client';
import { createModelActivities } from '../activities/model/call-model';
import { createSimpleActivities } from '../activities/task/simple';
import {
  FileTranscriptStore,
  keys,
  putJson,
  type ToolRecord,
  type TranscriptStore,
} from '../activities/task/transcripts';
import { createLocalProvider } from '../sandbox/local';
import { shutdownIsolation } from '../sandbox/os-isolation';
import { message, startFakeAnthropic, text, toolUse, type Billing } from '../test/fakes/anthropic-server';
import { machine } from './stats';
import { priceOf } from '../common/models';
import { cacheGoneAfterMs, keepAliveAfterMs, keepAliveWorthIt } from '../workflows/task/cache-warmth';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const TURNS = arg('turns', 40);
/** Print each cached call's usage and cost. */
const PER_TURN = process.argv.includes('--per-turn');
const REPOS = arg('repos', 20);
const AGENT_MODEL = 'claude-haiku-4-5';
const SIMPLE_MODEL = 'claude-haiku-5-5';
/** Turns whose tool call runs eight minutes: past the 5-minute cache. */
const LONG_TOOL_TURNS = new Set([Math.round(TURNS * 0.3), Math.round(TURNS * 0.65)]);
const LONG_TOOL_MS = 8 * 60_000;
const TURN_MS = 40_000;

const run = <A, R>(fn: (a: A) => Promise<R>, a: A) => new MockActivityEnvironment().run(fn, a) as Promise<R>;

/** Deterministic filler: a tool output that does not compress into a shared prefix by accident. */
function output(turn: number, chars: number): string {
  const lines: string[] = [];
  for (let i = 0; lines.join('\n').length < chars; i++)
    lines.push(`turn ${turn} line ${i}: ${((turn * 7919 + i * 104729) % 1_000_003).toString(36).repeat(6)}`);
  return lines.join('\n').slice(0, chars);
}

/** A system prompt the size of a real task's: role, task, context files, safety rules. */
const SYSTEM = `You are a careful engineer.\n${output(0, 12_000)}`;

interface Figures {
  costUsd: number;
  inputTokens: number;
  cacheRead: number;
  cacheWrite: number;
  uncached: number;
  output: number;
}

function figures(b: Billing): Figures {
  const f = { costUsd: b.costUsd, inputTokens: 0, cacheRead: 0, cacheWrite: 0, uncached: 0, output: 0 };
  for (const r of b.billed) {
    f.cacheRead += r.usage.cacheRead;
    f.cacheWrite += r.usage.cacheWrite;
    f.uncached += r.usage.input;
    f.output += r.usage.output;
  }
  f.inputTokens = f.cacheRead + f.cacheWrite + f.uncached;
  return f;
}

type AgentMode = 'kept-warm' | 'before-keep-alives' | 'caching-off';

async function agentRun(
  mode: AgentMode,
  dir: string,
): Promise<{ f: Figures; turnsReadShare: number; elisions: number; longTtlFrom?: number; keepAlives: number }> {
  const cacheOff = mode === 'caching-off';
  let virtual = Date.parse('2026-11-21T22:00:00Z');
  const now = () => virtual;
  const fake = await startFakeAnthropic({
    cache: { now, off: cacheOff },
    byTurn: (turn) =>
      turn >= TURNS
        ? message([toolUse(`tu_${turn}`, 'finish', { summary: 'done', verification: 'tests pass' })], {
            usage: { input_tokens: 0, output_tokens: 150 },
            model: AGENT_MODEL,
          })
        : message(
            [
              text(`Step ${turn}: running the next check.`),
              toolUse(`tu_${turn}`, 'bash', { command: `npm test -- --shard ${turn}` }),
            ],
            { usage: { input_tokens: 0, output_tokens: 400 }, model: AGENT_MODEL },
          ),
  });
  try {
    const transcripts: TranscriptStore = new FileTranscriptStore({ dir: path.join(dir, mode) });
    const anthropic = createAnthropicClient(
      { anthropic: { apiKey: 'sk-bench', baseUrl: fake.url } },
      { maxRetries: 0 },
    )!;
    const acts = createModelActivities({ anthropic, transcripts, now });
    const workflowId = 'bench/cost-agent';
    await putJson(transcripts, workflowId, keys.prompt, {
      system: SYSTEM,
      firstMessage: 'Make the test suite pass; run each shard.',
    });
    let elidedThrough = 0;
    let elisions = 0;
    let longTtlFrom: number | undefined;
    let keepAlives = 0;
    // The agent loop's cache state (workflows/task/agent-loop.ts, workflows/budget/task-side.ts): when the cache was last touched, and whether calls write for an hour.
    // Without caching there is nothing to keep warm: the baseline is the turns alone.
    const warm = mode === 'kept-warm';
    const keepAliveBills = new Set<number>();
    let touchedAt: number | undefined;
    let longTtl = false;
    const price = priceOf(AGENT_MODEL)!;
    for (let turn = 1; turn <= TURNS; turn++) {
      if (warm && touchedAt !== undefined && virtual - touchedAt > cacheGoneAfterMs()) longTtl = true;
      touchedAt = virtual;
      const t = await run(acts.callModel, {
        workflowId,
        turn,
        model: AGENT_MODEL,
        maxTokens: 8192,
        ...(warm ? { cacheTtl: longTtl ? ('1h' as const) : ('5m' as const) } : {}),
      });
      const rec = JSON.parse((await transcripts.get(workflowId, keys.turn(turn)))!) as {
        elidedThroughTurn?: number;
        cacheTtl?: string;
      };
      if ((rec.elidedThroughTurn ?? 0) > elidedThrough) {
        elisions++;
        elidedThrough = rec.elidedThroughTurn!;
      }
      if (rec.cacheTtl === '1h' && longTtlFrom === undefined) longTtlFrom = turn;
      virtual += TURN_MS;
      for (const call of t.toolCalls.filter((c) => c.name === 'bash')) {
        const content = output(turn, 24_000);
        const toolEnds = virtual + (LONG_TOOL_TURNS.has(turn) ? LONG_TOOL_MS : 0);
        // While the tool runs, the loop's keep-alives (workflows/task/agent-loop.ts keptWarm), on the same clock.
        for (let sent = 0; warm && keepAliveWorthIt(sent, price) && touchedAt + keepAliveAfterMs() < toolEnds; sent++) {
          virtual = touchedAt + keepAliveAfterMs();
          touchedAt = virtual;
          keepAliveBills.add(fake.billing().requests);
          await run(acts.keepCacheWarm, { workflowId, turn, seq: ++keepAlives, model: AGENT_MODEL });
        }
        virtual = toolEnds;
        await putJson(transcripts, workflowId, keys.tool(turn, call.id), {
          toolUseId: call.id,
          name: 'bash',
          isError: false,
          content,
          summary: 'ran',
        } satisfies ToolRecord);
      }
    }
    if (PER_TURN && mode === 'kept-warm')
      for (const [i, r] of fake.billing().billed.entries()) console.log(i + 1, JSON.stringify(r.usage), r.costUsd);
    const bill = fake.billing();
    const turnsOnly = figures({ ...bill, billed: bill.billed.filter((_, i) => !keepAliveBills.has(i)) });
    return {
      f: figures(bill),
      turnsReadShare: turnsOnly.cacheRead / turnsOnly.inputTokens,
      elisions,
      longTtlFrom,
      keepAlives,
    };
  } finally {
    await fake.close();
  }
}

async function simpleRun(api: 'messages' | 'batch', dir: string): Promise<Figures> {
  const fake = await startFakeAnthropic({
    byTurn: (_t, req) => {
      const repo = /repo-(\d+)/.exec(JSON.stringify(req.body.system))?.[1] ?? '?';
      return message(
        [
          toolUse(`tu_${repo}`, 'write_files', {
            files: [{ path: 'README.md', content: `# repo ${repo}\n\n${output(Number(repo), 3_000)}\n` }],
            summary: `Refreshed repo ${repo}`,
          }),
        ],
        { usage: { input_tokens: 0, output_tokens: 900 }, model: SIMPLE_MODEL },
      );
    },
    // Counts each request's tokens; simple mode marks no breakpoints, so nothing is cached.
    cache: {},
    batches: { processAfterMs: 0 },
  });
  try {
    const transcripts = new FileTranscriptStore({ dir: path.join(dir, `simple-${api}`) });
    const sandboxes = createLocalProvider({ root: path.join(dir, `sandboxes-${api}`) });
    const anthropic = createAnthropicClient(
      { anthropic: { apiKey: 'sk-bench', baseUrl: fake.url } },
      { maxRetries: 0 },
    )!;
    const acts = createSimpleActivities({ anthropic, sandboxes, transcripts });
    for (let i = 0; i < REPOS; i++) {
      const workflowId = `bench/simple-${api}-${i}`;
      const sandbox = await sandboxes.create({ key: workflowId });
      const box = await sandboxes.connect(sandbox.id);
      await box.writeFile('README.md', `# repo ${i}\n\n${output(i, 2_000 + 400 * i)}\n`);
      await box.writeFile('src/index.js', output(i + 100, 6_000));
      await putJson(transcripts, workflowId, keys.prompt, {
        system: `Task readme@repo-${i}: refresh the README.\n${SYSTEM}`,
        firstMessage: 'Go.',
      });
      const call = { workflowId, sandboxId: sandbox.id, model: SIMPLE_MODEL, contextFiles: ['README.md'] };
      if (api === 'messages') await run(acts.simpleModelCall, call);
      else {
        const { batchId } = await run(acts.submitSimpleBatch, call);
        while ((await run(acts.simpleBatchState, { batchId })).status !== 'ended')
          await new Promise((r) => setTimeout(r, 50));
        const got = await run(acts.collectSimpleBatch, { workflowId, batchId, model: SIMPLE_MODEL });
        if (!got.stored) throw new Error(`repo ${i}: ${got.reason}`);
        await run(acts.simpleModelCall, { ...call, storedOnly: true });
      }
    }
    return figures(fake.billing());
  } finally {
    await fake.close();
  }
}

const usd = (n: number) => `$${n.toFixed(4)}`;
const pct = (n: number) => `${(n * 100).toFixed(1)} %`;

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nightshift-bench-cost-'));
  try {
    const cached = await agentRun('kept-warm', dir);
    const before = await agentRun('before-keep-alives', dir);
    const uncached = await agentRun('caching-off', dir);
    const readShare = cached.f.cacheRead / cached.f.inputTokens;
    const ratio = cached.f.costUsd / uncached.f.costUsd;
    console.log(`bench:cost on ${machine()}`);
    console.log(
      `\nagent task: ${TURNS} turns on ${AGENT_MODEL}, two ${LONG_TOOL_MS / 60_000}-minute tool calls (turns ${[...LONG_TOOL_TURNS].join(', ')}), ${cached.elisions} elision step(s); kept warm: ${cached.keepAlives} keep-alive(s), 1-hour TTL from turn ${cached.longTtlFrom ?? '-'}; before keep-alives: 1-hour TTL from turn ${before.longTtlFrom ?? '-'}`,
    );
    console.log(
      '| run | cost | of uncached | input tokens | read from cache | cache writes | uncached input | output |',
    );
    console.log('|---|---|---|---|---|---|---|---|');
    for (const [name, r] of [
      ['caching, kept warm', cached],
      ['caching, before keep-alives', before],
      ['caching off', uncached],
    ] as const) {
      const f = r.f;
      console.log(
        `| ${name} | ${usd(f.costUsd)} | ${(f.costUsd / uncached.f.costUsd).toFixed(3)} | ${f.inputTokens.toLocaleString('en')} | ${pct(f.cacheRead / f.inputTokens)} | ${f.cacheWrite.toLocaleString('en')} | ${f.uncached.toLocaleString('en')} | ${f.output.toLocaleString('en')} |`,
      );
    }
    console.log(
      `read from cache ${pct(readShare)}, ${pct(cached.turnsReadShare)} of the turns' own input without the keep-alives' (target >= 85 %: ${Math.min(readShare, cached.turnsReadShare) >= 0.85 ? 'met' : 'NOT met'}); cost ${ratio.toFixed(3)} of uncached (target <= 0.333: ${ratio <= 1 / 3 ? 'met' : 'NOT met'})`,
    );

    const messages = await simpleRun('messages', dir);
    const batch = await simpleRun('batch', dir);
    const batchRatio = batch.costUsd / messages.costUsd;
    console.log(`\nsimple mode: ${REPOS} repos on ${SIMPLE_MODEL}`);
    console.log('| run | cost | input tokens | output |');
    console.log('|---|---|---|---|');
    console.log(
      `| Messages API | ${usd(messages.costUsd)} | ${messages.inputTokens.toLocaleString('en')} | ${messages.output.toLocaleString('en')} |`,
    );
    console.log(
      `| Batches API | ${usd(batch.costUsd)} | ${batch.inputTokens.toLocaleString('en')} | ${batch.output.toLocaleString('en')} |`,
    );
    console.log(
      `batch / messages cost ${batchRatio.toFixed(4)} (target 0.5 ± 0.01: ${Math.abs(batchRatio - 0.5) <= 0.01 ? 'met' : 'NOT met'})`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await shutdownIsolation();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
