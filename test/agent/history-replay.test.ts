/**
 * Replays committed agentTask histories (tool calls and finish; a continue-as-new chain;
 * a policy halt; a delivery to GitHub) against today's workflow code, so a
 * nondeterministic change to the agent loop fails here before it breaks a task in flight.
 *
 * Re-record only for a deliberate, versioned change:
 *   NIGHTSHIFT_RECORD=1 node --import tsx --test test/agent/history-replay.test.ts
 * or record one new scenario alone, leaving the others as they are: NIGHTSHIFT_RECORD=<name>.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertHistoriesReplay } from '../helpers/replay';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { shutdownIsolation } from '../../sandbox/os-isolation';
import type { AgentTaskInput } from '../../workflows/task/messages';
import { message, overloaded, startFakeAnthropic, toolUse } from '../fakes/anthropic-server';
import { startFakeGitHub } from '../fakes/github-server';
import {
  deliveryConfig,
  deliveryWorker,
  GITHUB_REPO,
  prSettings,
  remote,
  writesThenFinishes,
} from '../delivery/helpers';
import { startDevServer, testConfig, testWorker } from '../helpers/temporal';
import { agentInput, agentSpec, runAgentTask, withModel, workflowIdOf } from './helpers';

const DIR = path.join(__dirname, '..', 'fixtures', 'agent-histories');

const finish = (id: string) => message([toolUse(id, 'finish', { summary: 'done', verification: 'checked' })]);

/** `github`: the task is delivered on GitHub (a fresh remote with a PR on the GitHub fake), by a worker with a token. */
const SCENARIOS: {
  name: string;
  input: AgentTaskInput;
  byTurn: (turn: number) => ReturnType<typeof message>;
  github?: true;
}[] = [
  {
    // The loop's own model-call retry (patch model-call-attempts-booked): a 529, a backoff timer, a second attempt.
    name: 'model-retries',
    input: agentInput(agentSpec({ id: 'replay-retries', model: 'haiku' })),
    byTurn: (() => {
      let overloadedOnce = false;
      return (t: number) => {
        if (t === 1 && !overloadedOnce) {
          overloadedOnce = true;
          return overloaded();
        }
        return t === 1 ? message([toolUse('tu_1', 'write_file', { path: 'a.txt', content: 'a\n' })]) : finish('tu_fin');
      };
    })(),
  },
  {
    name: 'tools-then-finish',
    input: agentInput(agentSpec({ id: 'replay-tools', model: 'haiku' })),
    byTurn: (t) =>
      t === 1
        ? message([
            toolUse('tu_1a', 'write_file', { path: 'a.txt', content: 'a\n' }),
            toolUse('tu_1b', 'bash', { command: 'cat a.txt' }),
          ])
        : t === 2
          ? message([toolUse('tu_2', 'edit_file', { path: 'a.txt', old_text: 'a', new_text: 'b' })])
          : finish('tu_fin'),
  },
  {
    name: 'continue-as-new',
    input: agentInput(agentSpec({ id: 'replay-can', model: 'haiku' }), { continueAsNewEveryTurns: 2 }),
    byTurn: (t) => (t < 4 ? message([toolUse(`tu_${t}`, 'list_files', { path: '.' })]) : finish(`tu_${t}`)),
  },
  {
    name: 'policy-halt',
    input: agentInput(agentSpec({ id: 'replay-halt', model: 'haiku' })),
    byTurn: () => message([toolUse('tu_1', 'bash', { command: 'git push origin main' })]),
  },
  {
    // The sandbox made on the GitHub queue (patch github-task-sandboxes-on-token-hosts), then push and PR.
    name: 'github-delivery',
    input: agentInput(agentSpec({ id: 'replay-github', model: 'haiku', createPr: true, pullRequest: prSettings() })),
    byTurn: (t) => writesThenFinishes({ 'a.txt': 'a\n' }, t),
    github: true,
  },
];

async function record(): Promise<void> {
  mkdirSync(DIR, { recursive: true });
  const env = await startDevServer();
  try {
    for (const s of SCENARIOS.filter(
      (x) => process.env.NIGHTSHIFT_RECORD === '1' || process.env.NIGHTSHIFT_RECORD === x.name,
    )) {
      const fake = await startFakeAnthropic({ byTurn: s.byTurn });
      const bare = s.github ? remote() : undefined;
      const gh = bare ? await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } }) : undefined;
      try {
        const worker = gh
          ? await deliveryWorker(env, deliveryConfig(env, fake.url, gh.url))
          : await testWorker(env, withModel(testConfig(env), fake.url));
        const input = {
          ...s.input,
          batchId: `nightshift-replay-agent-${s.name}`,
          ...(bare ? { task: { ...s.input.task, repo: bare } } : {}),
        };
        const { firstRunId } = await runAgentTask(env, worker, input);
        const workflowId = workflowIdOf(input);
        let runId: string | undefined = firstRunId;
        for (let run = 0; runId; run++) {
          const h = await env.client.workflow.getHandle(workflowId, runId).fetchHistory();
          writeFileSync(
            path.join(DIR, `${s.name}.${run}.json`),
            JSON.stringify({ workflowId, history: JSON.parse(historyToJSON(h)) }, null, 1) + '\n',
          );
          runId =
            h.events?.[h.events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ??
            undefined;
        }
      } finally {
        await fake.close();
        await gh?.close();
      }
    }
  } finally {
    await env.teardown();
    await shutdownIsolation();
  }
}

test('committed agentTask histories replay without nondeterminism', async () => {
  if (process.env.NIGHTSHIFT_RECORD) await record();
  assert.ok(existsSync(DIR), `no recorded histories in ${DIR}; record them (see the top of this file)`);
  const files = readdirSync(DIR)
    .filter((f) => f.endsWith('.json'))
    .sort();
  assert.ok(files.length >= 4, `expected at least 4 histories, found ${files.length}`);
  await assertHistoriesReplay(
    files.map((f) => JSON.parse(readFileSync(path.join(DIR, f), 'utf8')) as { workflowId: string; history: unknown }),
  );
});
