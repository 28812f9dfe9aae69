/**
 * An agent task whose `sandbox.provider` is docker, end to end on a real engine
 * (test/sandbox/docker-engine.ts): the workflow, a scripted model on the loopback fake, the
 * tools running in the container, and the container and its volume gone at the end.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createDockerProvider, DOCKER_KEY_LABEL } from '../../sandbox/docker';
import { message, startFakeAnthropic, toolUse } from '../fakes/anthropic-server';
import { devServerForFile, testConfig, testWorker } from '../helpers/temporal';
import { agentInput, agentSpec, runAgentTask, withModel, workflowIdOf } from '../agent/helpers';
import { startTestEngine, TEST_IMAGE, type TestEngine } from './docker-engine';

const server = devServerForFile();
let engine: TestEngine;
before(async () => {
  engine = await startTestEngine();
});
after(async () => {
  await engine?.stop();
});

type Body = { messages: { role: string; content: string | { type: string; content?: string }[] }[] };
const lastToolResult = (body: unknown): string => {
  const msgs = (body as Body).messages;
  const last = msgs[msgs.length - 1].content;
  return typeof last === 'string' ? last : (last.find((b) => b.type === 'tool_result')?.content ?? '');
};

test('a task on the docker provider runs its tools in a container and removes it at the end', async () => {
  const fake = await startFakeAnthropic({
    script: [
      message([toolUse('tu_1', 'write_file', { path: 'notes/plan.md', content: 'written in a container\n' })]),
      message([toolUse('tu_2', 'bash', { command: 'cat notes/plan.md && pwd && cat /proc/1/cmdline | tr "\\0" " "' })]),
      message([toolUse('tu_3', 'finish', { summary: 'done in docker' })]),
    ],
  });
  try {
    const docker = createDockerProvider({
      docker: { socketPath: engine.socketPath },
      image: TEST_IMAGE,
      egressDir: engine.egressDir,
    });
    const worker = await testWorker(server.env, withModel(testConfig(server.env), fake.url), {
      deps: { otherSandboxes: { docker } },
    });
    const input = agentInput(
      agentSpec({ maxTurns: 5, sandbox: { provider: 'docker', template: TEST_IMAGE, networkAllow: [], envAllow: [] } }),
    );
    let seenContainers = 0;
    const watch = setInterval(() => {
      void engine.docker.listContainers({ all: true }).then(
        (l) => (seenContainers = Math.max(seenContainers, l.length)),
        () => undefined,
      );
    }, 200);
    const { result } = await runAgentTask(server.env, worker, input).finally(() => clearInterval(watch));
    assert.equal(result.status, 'succeeded', result.error);
    assert.equal(fake.requests.length, 3);
    const out = lastToolResult(fake.requests[2].body);
    assert.match(out, /written in a container/);
    assert.match(out, /\/workspace/);
    assert.match(out, /docker-init -- sleep infinity/, 'the command ran inside the container');
    assert.equal(seenContainers, 1);
    const left = await engine.docker.listContainers({ all: true, filters: { label: [DOCKER_KEY_LABEL] } });
    assert.deepEqual(left, [], `the container of ${workflowIdOf(input)} is removed at the end`);
    const volumes = (await engine.docker.listVolumes()).Volumes ?? [];
    assert.deepEqual(
      volumes.map((v) => v.Name),
      [],
      'and its workspace volume',
    );
  } finally {
    await fake.close();
  }
});
