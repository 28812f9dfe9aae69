/**
 * A night on `sandbox.provider: docker` with a repository, end to end on a real engine
 * (test/sandbox/docker-engine.ts): a scripted model, a question answered while the task's
 * container waits, a dependent task starting from its dependency's branch, checks, and PRs
 * on the GitHub fake. The dependent task's container is removed through the engine in the
 * middle of its work; it is rebuilt from its checkpoint and the night completes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TASK_QUEUE } from '../../common/config';
import type { BatchResult, BatchStatus } from '../../workflows/contract';
import { batchIdFor } from '../../workflows/contract';
import { createDockerProvider, DOCKER_KEY_LABEL } from '../../sandbox/docker';
import { devServerForFile, testWorker } from '../helpers/temporal';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import { startFakeGitHub } from '../fakes/github-server';
import { deliveryConfig, git, GITHUB_REPO, remote, taskOf } from '../delivery/helpers';
import { startTestEngine, TEST_IMAGE, type TestEngine } from '../sandbox/docker-engine';

const server = devServerForFile();
const DATE = '2026-11-24';

let engine: TestEngine;
before(async () => {
  engine = await startTestEngine();
});
after(async () => {
  await engine?.stop();
});

/** The task a container's key names (keys are `<task workflow id>@<run>`, `#baseline` for the baseline checks' container). */
const taskOfKey = (key: string): string | undefined => /\/([^/@#]+)@[^#]*$/.exec(key)?.[1];

/** Every container the engine creates, inspected the moment it appears: its key label and environment. */
async function watchCreates(): Promise<{ seen: Map<string, { key: string; env: string[] }>; missed: string[]; settled(): Promise<unknown>; stop(): void }> {
  const seen = new Map<string, { key: string; env: string[] }>();
  const missed: string[] = [];
  const inspecting: Promise<unknown>[] = [];
  const stream = (await engine.docker.getEvents({ filters: { type: ['container'], event: ['create'] } })) as NodeJS.ReadableStream & { destroy(): void };
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (!line) continue;
      const id = (JSON.parse(line) as { id: string }).id;
      inspecting.push(engine.docker
        .getContainer(id)
        .inspect()
        .then((info) => seen.set(id, { key: info.Config.Labels?.[DOCKER_KEY_LABEL] ?? '', env: info.Config.Env ?? [] }), () => missed.push(id)));
    }
  });
  return { seen, missed, settled: () => Promise.all(inspecting), stop: () => stream.destroy() };
}

test('a docker night: a question is answered, a dependent task starts from its dependency, survives losing its container, and both open PRs', async () => {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  const removed: string[] = [];
  const toolResults: Record<string, string[]> = {};
  const fake = await startFakeAnthropic({
    byTurn: async (turn, req) => {
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
        // The container goes while the model thinks: removed through the engine, as an operator or a crash would.
        const mine = await engine.docker.listContainers({ all: true, filters: { label: [DOCKER_KEY_LABEL] } });
        for (const c of mine.filter((c) => taskOfKey(c.Labels[DOCKER_KEY_LABEL]) === 'api')) {
          removed.push(c.Id);
          await engine.docker.getContainer(c.Id).remove({ force: true });
        }
        return message([toolUse('tu_a3', 'bash', { command: 'cat src/api.ts && git status --short' })]);
      }
      return message([text('Done.'), toolUse('tu_a4', 'finish', { summary: 'api written on the schema', verification: 'checks' })]);
    },
  });
  const creates = await watchCreates();
  try {
    const config = deliveryConfig(server.env, fake.url, gh.url);
    const docker = createDockerProvider({ docker: { socketPath: engine.socketPath }, image: TEST_IMAGE, egressDir: engine.egressDir });
    const worker = await testWorker(server.env, config, { deps: { githubOptions: { retryBaseMs: 20 }, otherSandboxes: { docker } } });
    const spec = {
      date: DATE,
      sandbox: { provider: 'docker', template: TEST_IMAGE },
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
    for (const t of result.tasks) assert.equal(t.status, 'succeeded', `${t.taskId}: ${t.error}\n${engine.log()}`);
    for (const t of result.tasks) assert.equal(git(bare, 'rev-parse', `refs/heads/${t.branch}`), t.commit, `${t.taskId} pushed`);

    assert.match(toolResults.schema[0], /A string, like every other id\./, 'the answer reached the model');

    // The dependent task started from its dependency's branch, sent into its container as a bundle.
    assert.equal(git(bare, 'rev-parse', `${by.api.commit}^`), by.schema.commit);
    assert.match(toolResults.api[0], /export type Row[\s\S]*nightshift/);
    assert.deepEqual(by.api.filesChanged, ['src/api.ts']);

    // Its container was removed after the write and rebuilt from the checkpoint: the file was there.
    assert.equal(removed.length, 1);
    assert.match(toolResults.api[2], /export const rows[\s\S]*\?\? src\//);
    assert.equal(git(bare, 'show', `${by.api.commit}:src/api.ts`), "import type { Row } from './schema';\nexport const rows: Row[] = [];");

    // The engine's view: one container for schema, two for api (the removed one and its rebuild), none holding a credential.
    await creates.settled();
    assert.deepEqual(creates.missed, [], 'every created container was inspected');
    const containers = [...creates.seen.values()];
    const byTask = (id: string) => containers.filter((c) => taskOfKey(c.key) === id);
    assert.equal(byTask('schema').length, 1);
    assert.equal(byTask('api').length, 2);
    assert.ok(removed.every((id) => creates.seen.has(id)));
    assert.ok(containers.some((c) => c.key.endsWith('#baseline')), `the baseline checks ran in a container of their own: ${containers.map((c) => c.key).join(' ')}`);
    for (const c of containers) {
      assert.ok(c.key, 'every container carries its key label');
      assert.doesNotMatch(JSON.stringify(c.env), /ghs_test/, `no credential in ${c.key}`);
    }

    const left = await engine.docker.listContainers({ all: true });
    assert.deepEqual(left.map((c) => c.Names), [], 'every container removed at the end');
    const volumes = (await engine.docker.listVolumes()).Volumes ?? [];
    assert.deepEqual(volumes.map((v) => v.Name), [], 'and every workspace volume');

    const pulls = gh.pulls(GITHUB_REPO);
    assert.equal(pulls.length, 2);
    assert.equal(pulls.find((p) => p.head.ref === by.api.branch)?.base.ref, by.schema.branch, 'stacked on its dependency');
  } finally {
    creates.stop();
    await Promise.all([fake.close(), gh.close()]);
  }
});
