/**
 * A night on `sandbox.provider: e2b` with a repository, end to end: the real e2b SDK
 * against the loopback fake of E2B's control plane and envd (commands really run, in
 * local sandboxes underneath), a scripted model, a question answered while the task's
 * sandbox waits, a dependent task starting from its dependency's branch, checks, and PRs
 * on the GitHub fake. The dependent task's sandbox is
 * deleted through E2B's API in the middle of its work; it is rebuilt from its checkpoint
 * and the night completes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TASK_QUEUE } from '../../common/config';
import type { BatchResult, BatchStatus } from '../../workflows/contract';
import { batchIdFor } from '../../workflows/contract';
import { E2B_KEY_METADATA } from '../../sandbox/e2b';
import { devServerForFile } from '../helpers/temporal';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import { startFakeE2B } from '../fakes/e2b-server';
import { startFakeGitHub } from '../fakes/github-server';
import { deliveryConfig, deliveryWorker, git, GITHUB_REPO, remote, taskOf } from '../delivery/helpers';

const server = devServerForFile();
const DATE = '2026-11-23';
const E2B_KEY = 'e2b_night_key';

test('an e2b night: a question is answered, a dependent task starts from its dependency, survives losing its sandbox, and both open PRs', async () => {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  const e2b = await startFakeE2B(E2B_KEY);
  const deleted: string[] = [];
  const toolResults: Record<string, string[]> = {};
  const fake = await startFakeAnthropic({
    byTurn: (turn, req) => {
      const task = taskOf(req);
      const last = req.body.messages?.[req.body.messages.length - 1]?.content;
      if (Array.isArray(last) && last.some((b: { type?: string }) => b.type === 'tool_result')) (toolResults[task] ??= []).push(JSON.stringify(last));
      if (task === 'schema') {
        if (turn === 1) return message([text('I need a decision.'), toolUse('tu_s0', 'ask_human', { context: 'Rows need an id.', question: 'Is the id a string or a number?', options: ['string', 'number'], impact: 'The API types.', assumption: 'string' })]);
        if (turn === 2) return message([toolUse('tu_s1', 'write_file', { path: 'src/schema.ts', content: 'export type Row = { id: string };\n' })]);
        return message([text('Done.'), toolUse('tu_s2', 'finish', { summary: 'schema written', verification: 'checks' })]);
      }
      if (turn === 1) return message([toolUse('tu_a1', 'bash', { command: 'cat src/schema.ts && git log --format=%s -1' })]);
      if (turn === 2) return message([toolUse('tu_a2', 'write_file', { path: 'src/api.ts', content: "import type { Row } from './schema';\nexport const rows: Row[] = [];\n" })]);
      if (turn === 3) {
        // The sandbox goes while the model thinks: deleted through E2B's own API.
        const mine = [...e2b.sandboxes.values()].filter((s) => s.metadata.nightshiftTaskId === 'api');
        for (const s of mine) {
          deleted.push(s.sandboxID);
          void fetch(`${e2b.url}/sandboxes/${s.sandboxID}`, { method: 'DELETE', headers: { 'x-api-key': E2B_KEY } });
        }
        return message([toolUse('tu_a3', 'bash', { command: 'cat src/api.ts && git status --short' })]);
      }
      return message([text('Done.'), toolUse('tu_a4', 'finish', { summary: 'api written on the schema', verification: 'checks' })]);
    },
  });
  try {
    const config = { ...deliveryConfig(server.env, fake.url, gh.url), e2b: { apiKey: E2B_KEY, apiUrl: e2b.url, sandboxUrl: e2b.sandboxUrl, template: 'nightshift-night' } };
    const worker = await deliveryWorker(server.env, config);
    const spec = {
      date: DATE,
      sandbox: { provider: 'e2b' },
      checks: ['test -f src/schema.ts', 'grep -q Row src/schema.ts'],
      pull_request: { repo: GITHUB_REPO, labels: ['nightshift'] },
      tasks: [
        { id: 'schema', title: 'Write the schema', context: { repo: bare }, agent_config: { max_turns: 4 } },
        { id: 'api', title: 'Write the API on the schema', depends_on: ['schema'], context: { repo: bare }, agent_config: { max_turns: 6 } },
      ],
    };
    const result = await worker.runUntil(async () => {
      const handle = await server.env.client.workflow.start('nightlyBatch', { taskQueue: TASK_QUEUE, workflowId: batchIdFor(DATE), args: [{ spec }] });
      for (;;) {
        const s: BatchStatus = await handle.query('status');
        if (s.questions?.length) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await handle.signal('answer', { taskId: 'schema', text: 'A string, like every other id.' });
      return (await handle.result()) as BatchResult;
    });
    const by = Object.fromEntries(result.tasks.map((t) => [t.taskId, t]));
    for (const t of result.tasks) assert.equal(t.status, 'succeeded', `${t.taskId}: ${t.error}`);
    for (const t of result.tasks) assert.equal(git(bare, 'rev-parse', `refs/heads/${t.branch}`), t.commit, `${t.taskId} pushed`);

    assert.match(toolResults.schema[0], /A string, like every other id\./, 'the answer reached the model');

    // The dependent task started from its dependency's branch, sent into its sandbox as a bundle.
    assert.equal(git(bare, 'rev-parse', `${by.api.commit}^`), by.schema.commit);
    assert.match(toolResults.api[0], /export type Row[\s\S]*nightshift/);
    assert.deepEqual(by.api.filesChanged, ['src/api.ts']);

    // Its sandbox was deleted after the write and rebuilt from the checkpoint: the file was there.
    assert.equal(deleted.length, 1);
    assert.match(toolResults.api[2], /export const rows[\s\S]*\?\? src\//);
    assert.equal(git(bare, 'show', `${by.api.commit}:src/api.ts`), "import type { Row } from './schema';\nexport const rows: Row[] = [];");

    // E2B as its users see it: labelled sandboxes (the task's, the rebuilt one, the baseline checks' on the base), from the configured template, all killed.
    const byTask = (id: string) => e2b.created.filter((s) => s.metadata.nightshiftTaskId === id && !s.metadata[E2B_KEY_METADATA].includes('#baseline'));
    assert.equal(byTask('schema').length, 1);
    assert.equal(byTask('api').length, 2);
    for (const s of e2b.created) {
      assert.equal(s.templateID, 'nightshift-night');
      assert.equal(s.body.autoPause, true);
      assert.match(s.metadata.nightshiftWorkflowId, new RegExp(`/${s.metadata.nightshiftTaskId}$`));
      assert.ok(s.metadata[E2B_KEY_METADATA]);
      assert.equal(s.body.allow_internet_access, false);
      assert.doesNotMatch(JSON.stringify(s.envVars), /ghs_test/);
    }
    assert.equal(e2b.sandboxes.size, 0, 'every sandbox killed at the end');
    for (const route of ['RPC process.Process/Start', 'POST /files', 'GET /files']) assert.ok(e2b.requests.includes(route), route);

    const pulls = gh.pulls(GITHUB_REPO);
    assert.equal(pulls.length, 2);
    assert.equal(pulls.find((p) => p.head.ref === by.api.branch)?.base.ref, by.schema.branch, 'stacked on its dependency');
  } finally {
    await Promise.all([fake.close(), gh.close(), e2b.close()]);
  }
});
