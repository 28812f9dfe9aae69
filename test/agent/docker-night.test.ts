/**
 * A night on `sandbox.provider: docker` with a repository, end to end on a real engine
 * (test/sandbox/docker-engine.ts): a scripted model, a question answered while the task's
 * container waits, a dependent task starting from its dependency's branch, checks, and PRs
 * on the GitHub fake. The dependent task's container is removed through the engine in the
 * middle of its work; it is rebuilt from its checkpoint and the night completes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createDockerProvider, DOCKER_KEY_LABEL } from '../../sandbox/docker';
import { devServerForFile, testWorker } from '../helpers/temporal';
import { startFakeGitHub } from '../fakes/github-server';
import { deliveryConfig, GITHUB_REPO, remote } from '../delivery/helpers';
import { startTestEngine, TEST_IMAGE, type TestEngine } from '../sandbox/docker-engine';
import { assertNightDelivered, nightSpec, runAnsweredNight, startNightModel } from './remote-night';

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
async function watchCreates(): Promise<{
  seen: Map<string, { key: string; env: string[] }>;
  missed: string[];
  settled(): Promise<unknown>;
  stop(): void;
}> {
  const seen = new Map<string, { key: string; env: string[] }>();
  const missed: string[] = [];
  const inspecting: Promise<unknown>[] = [];
  const stream = (await engine.docker.getEvents({
    filters: { type: ['container'], event: ['create'] },
  })) as NodeJS.ReadableStream & { destroy(): void };
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (!line) continue;
      const id = (JSON.parse(line) as { id: string }).id;
      inspecting.push(
        engine.docker
          .getContainer(id)
          .inspect()
          .then(
            (info) => seen.set(id, { key: info.Config.Labels?.[DOCKER_KEY_LABEL] ?? '', env: info.Config.Env ?? [] }),
            () => missed.push(id),
          ),
      );
    }
  });
  return { seen, missed, settled: () => Promise.all(inspecting), stop: () => stream.destroy() };
}

test('a docker night: a question is answered, a dependent task starts from its dependency, survives losing its container, and both open PRs', async () => {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  const removed: string[] = [];
  // The container goes while the model thinks: removed through the engine, as an operator or a crash would.
  const { model, toolResults } = await startNightModel(async () => {
    const mine = await engine.docker.listContainers({ all: true, filters: { label: [DOCKER_KEY_LABEL] } });
    for (const c of mine.filter((c) => taskOfKey(c.Labels[DOCKER_KEY_LABEL]) === 'api')) {
      removed.push(c.Id);
      await engine.docker.getContainer(c.Id).remove({ force: true });
    }
  });
  const creates = await watchCreates();
  try {
    const config = deliveryConfig(server.env, model.url, gh.url);
    const docker = createDockerProvider({
      docker: { socketPath: engine.socketPath },
      image: TEST_IMAGE,
      egressDir: engine.egressDir,
    });
    const worker = await testWorker(server.env, config, {
      deps: { githubOptions: { retryBaseMs: 20 }, otherSandboxes: { docker } },
    });
    const result = await runAnsweredNight(
      server.env,
      worker,
      nightSpec(DATE, { provider: 'docker', template: TEST_IMAGE }, bare),
    );
    assertNightDelivered(result, bare, toolResults, gh, engine.log());
    assert.equal(removed.length, 1);

    // The engine's view: one container for schema, two for api (the removed one and its rebuild), none holding a credential.
    await creates.settled();
    assert.deepEqual(creates.missed, [], 'every created container was inspected');
    const containers = [...creates.seen.values()];
    const byTask = (id: string) => containers.filter((c) => taskOfKey(c.key) === id);
    assert.equal(byTask('schema').length, 1);
    assert.equal(byTask('api').length, 2);
    assert.ok(removed.every((id) => creates.seen.has(id)));
    assert.ok(
      containers.some((c) => c.key.endsWith('#baseline')),
      `the baseline checks ran in a container of their own: ${containers.map((c) => c.key).join(' ')}`,
    );
    for (const c of containers) {
      assert.ok(c.key, 'every container carries its key label');
      assert.doesNotMatch(JSON.stringify(c.env), /ghs_test/, `no credential in ${c.key}`);
    }

    const left = await engine.docker.listContainers({ all: true });
    assert.deepEqual(
      left.map((c) => c.Names),
      [],
      'every container removed at the end',
    );
    const volumes = (await engine.docker.listVolumes()).Volumes ?? [];
    assert.deepEqual(
      volumes.map((v) => v.Name),
      [],
      'and every workspace volume',
    );
  } finally {
    creates.stop();
    await Promise.all([model.close(), gh.close()]);
  }
});
