import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SandboxGone } from '../../common/errors';
import { createDockerProvider, DockerUnavailable } from '../../sandbox/docker';
import { createE2BProvider } from '../../sandbox/e2b';
import { SandboxConfigError } from '../../common/errors';
import { createSandboxProvider } from '../../sandbox/index';
import { startFakeE2B, type FakeE2B } from '../fakes/e2b-server';
import { tempDir } from './helpers';

describe('e2b provider against a loopback control plane', () => {
  let fake: FakeE2B;
  before(async () => {
    fake = await startFakeE2B('e2b_fake_key');
  });
  after(() => fake.close());

  it('creates once per key (repeated and concurrent), connects, kills', async () => {
    const provider = createE2BProvider({
      apiKey: 'e2b_fake_key',
      apiUrl: fake.url,
      sandboxUrl: fake.sandboxUrl,
      template: 'nightshift-node',
    });
    const first = await provider.create({
      key: 'night/task-1',
      envs: { CI: '1' },
      network: { allow: ['registry.npmjs.org'] },
    });
    const again = await provider.create({ key: 'night/task-1' });
    assert.equal(again.id, first.id);
    const racing = await Promise.all([1, 2, 3].map(() => provider.create({ key: 'night/task-2' })));
    assert.equal(new Set(racing.map((s) => s.id)).size, 1, 'racing creators agree on one sandbox');
    assert.equal(
      [...fake.sandboxes.values()].filter((s) => s.metadata.nightshiftKey === 'night/task-2').length,
      1,
      'the losers were killed',
    );

    const created = fake.sandboxes.get(first.id)!;
    assert.equal(created.templateID, 'nightshift-node');
    assert.deepEqual(created.envVars, { CI: '1' });
    assert.deepEqual((created.body.network as { allowOut: string[] }).allowOut, ['registry.npmjs.org']);
    assert.equal(typeof created.body.timeout, 'number');

    const connected = await provider.connect(first.id);
    assert.equal(connected.id, first.id);
    assert.equal(await connected.kill(), true);
    assert.equal(await first.kill(), false);
    await assert.rejects(provider.connect(first.id), SandboxGone);
    const none = await provider.create({ key: 'night/offline' });
    assert.equal(fake.sandboxes.get(none.id)!.body.allow_internet_access, false);
  });

  it('a wrong API key is an error, not a sandbox', async () => {
    const provider = createE2BProvider({ apiKey: 'wrong', apiUrl: fake.url, sandboxUrl: fake.sandboxUrl });
    await assert.rejects(provider.create({ key: 'k' }), /401|api key|Unauthorized/i);
  });
});

describe('docker provider without an engine', () => {
  it('fails with a clear error naming where it looked', async () => {
    const socketPath = path.join(tempDir('docker'), 'docker.sock');
    const provider = createDockerProvider({ docker: { socketPath } });
    await assert.rejects(
      provider.create({ key: 'k' }),
      (e: unknown) => e instanceof DockerUnavailable && e.message.includes(socketPath) && /unreachable/.test(e.message),
    );
    await assert.rejects(provider.connect('abc'), DockerUnavailable);
  });
});

describe('createSandboxProvider', () => {
  it('e2b without E2B_API_KEY is a clear error', () => {
    assert.throws(
      () => createSandboxProvider({ provider: 'e2b' }, { localRoot: '/nonexistent', e2b: {} }),
      (e: unknown) => e instanceof SandboxConfigError && /E2B_API_KEY/.test(e.message),
    );
    assert.ok(createSandboxProvider({ provider: 'e2b' }, { localRoot: '/x', e2b: { apiKey: 'k' } }));
    assert.ok(createSandboxProvider({}, { localRoot: tempDir('providers-local') }));
  });
});
