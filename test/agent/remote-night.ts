/**
 * The night both remote-provider tests run (e2b-night, docker-night): a task that asks a
 * question, then a dependent task whose sandbox is lost after its first write and rebuilt
 * from its checkpoint. The provider-specific parts (how a sandbox is lost, what the
 * provider's own view must show) stay in each test; the night and what any provider must
 * deliver live here once.
 */
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { NightshiftWorker } from '../../worker';
import { batchIdFor, TASK_QUEUE } from '../../contract';
import type { BatchResult, BatchStatus } from '../../contract';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import type { startFakeGitHub } from '../fakes/github-server';
import { git, GITHUB_REPO, taskOf } from '../delivery/helpers';

export const ANSWER = 'A string, like every other id.';

/**
 * The scripted model. `loseSandbox` runs while the model "thinks" after the dependent
 * task's write, and removes that task's sandbox through the provider's own API.
 * `toolResults` collects each task's tool results, in turn order.
 */
export async function startNightModel(loseSandbox: () => Promise<void>) {
  const toolResults: Record<string, string[]> = {};
  const model = await startFakeAnthropic({
    byTurn: async (turn, req) => {
      const task = taskOf(req);
      const last = req.body.messages?.[req.body.messages.length - 1]?.content;
      if (Array.isArray(last) && last.some((b: { type?: string }) => b.type === 'tool_result'))
        (toolResults[task] ??= []).push(JSON.stringify(last));
      if (task === 'schema') {
        if (turn === 1)
          return message([
            text('I need a decision.'),
            toolUse('tu_s0', 'ask_human', {
              context: 'Rows need an id.',
              question: 'Is the id a string or a number?',
              options: ['string', 'number'],
              impact: 'The API types.',
              assumption: 'string',
            }),
          ]);
        if (turn === 2)
          return message([
            toolUse('tu_s1', 'write_file', { path: 'src/schema.ts', content: 'export type Row = { id: string };\n' }),
          ]);
        return message([
          text('Done.'),
          toolUse('tu_s2', 'finish', { summary: 'schema written', verification: 'checks' }),
        ]);
      }
      if (turn === 1)
        return message([toolUse('tu_a1', 'bash', { command: 'cat src/schema.ts && git log --format=%s -1' })]);
      if (turn === 2)
        return message([
          toolUse('tu_a2', 'write_file', {
            path: 'src/api.ts',
            content: "import type { Row } from './schema';\nexport const rows: Row[] = [];\n",
          }),
        ]);
      if (turn === 3) {
        await loseSandbox();
        return message([toolUse('tu_a3', 'bash', { command: 'cat src/api.ts && git status --short' })]);
      }
      return message([
        text('Done.'),
        toolUse('tu_a4', 'finish', { summary: 'api written on the schema', verification: 'checks' }),
      ]);
    },
  });
  return { model, toolResults };
}

/** The night's task file on `sandbox`, both tasks on the bare repository `bare`, PRs to the GitHub fake. */
export function nightSpec(date: string, sandbox: Record<string, string>, bare: string) {
  return {
    date,
    sandbox,
    checks: ['test -f src/schema.ts', 'grep -q Row src/schema.ts'],
    pull_request: { repo: GITHUB_REPO, labels: ['nightshift'] },
    tasks: [
      { id: 'schema', title: 'Write the schema', context: { repo: bare }, agent_config: { max_turns: 4 } },
      {
        id: 'api',
        title: 'Write the API on the schema',
        depends_on: ['schema'],
        context: { repo: bare },
        agent_config: { max_turns: 6 },
      },
    ],
  };
}

/** Runs the night on `worker`, answering schema's question as soon as the batch shows it. */
export async function runAnsweredNight(
  env: TestWorkflowEnvironment,
  worker: NightshiftWorker,
  spec: ReturnType<typeof nightSpec>,
): Promise<BatchResult> {
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start('nightlyBatch', {
      taskQueue: TASK_QUEUE,
      workflowId: batchIdFor(spec.date),
      args: [{ spec }],
    });
    for (;;) {
      const s: BatchStatus = await handle.query('status');
      if (s.questions?.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await handle.signal('answer', { taskId: 'schema', text: ANSWER });
    return (await handle.result()) as BatchResult;
  });
}

/**
 * What any provider must deliver: both tasks succeeded and pushed, the answer reached the
 * model, the dependent task started from its dependency's branch (sent in as a bundle),
 * its lost sandbox was rebuilt from the checkpoint with the file there, and the PRs stack.
 */
export function assertNightDelivered(
  result: BatchResult,
  bare: string,
  toolResults: Record<string, string[]>,
  gh: Awaited<ReturnType<typeof startFakeGitHub>>,
  diagnostics = '',
): void {
  const by = Object.fromEntries(result.tasks.map((t) => [t.taskId, t]));
  for (const t of result.tasks)
    assert.equal(t.status, 'succeeded', `${t.taskId}: ${t.error}${diagnostics ? `\n${diagnostics}` : ''}`);
  for (const t of result.tasks)
    assert.equal(git(bare, 'rev-parse', `refs/heads/${t.branch}`), t.commit, `${t.taskId} pushed`);

  assert.ok(toolResults.schema[0].includes(ANSWER), 'the answer reached the model');

  assert.equal(git(bare, 'rev-parse', `${by.api.commit}^`), by.schema.commit);
  assert.match(toolResults.api[0], /export type Row[\s\S]*nightshift/);
  assert.deepEqual(by.api.filesChanged, ['src/api.ts']);

  // The file written before the loss was there after the rebuild, and is what was delivered.
  assert.match(toolResults.api[2], /export const rows[\s\S]*\?\? src\//);
  assert.equal(
    git(bare, 'show', `${by.api.commit}:src/api.ts`),
    "import type { Row } from './schema';\nexport const rows: Row[] = [];",
  );

  const pulls = gh.pulls(GITHUB_REPO);
  assert.equal(pulls.length, 2);
  assert.equal(
    pulls.find((p) => p.head.ref === by.api.branch)?.base.ref,
    by.schema.branch,
    'stacked on its dependency',
  );
}
