import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SandboxConfigError } from '../../common/errors';
import { createE2BProvider } from '../../sandbox/e2b';
import { routeSandboxes } from '../../sandbox/router';
import { NO_SANDBOX_SETTINGS, sandboxRequest } from '../../sandbox/settings';
import { SANDBOX_TIMEOUT_MS, type SandboxSettings } from '../../sandbox/types';
import { parseBatchSpec } from '../../taskfile/load';
import { SandboxLimitsSchema, SandboxSettingsSchema } from '../../taskfile/schema';
import { startFakeE2B, type FakeE2B } from '../fakes/e2b-server';

/** A task-file `sandbox:` block that sets every field the schema has. */
const EVERY_FIELD = {
  provider: 'e2b',
  template: 'nightshift-node',
  network_allow: ['registry.npmjs.org', 'pypi.org'],
  env_allow: ['NODE_ENV', 'LANG_X'],
  limits: { memory_mb: 2048, cpus: 1.5, disk_mb: 4096, open_files: 1024, processes: 256 },
};

const WORKER_ENV = { NODE_ENV: 'test', LANG_X: 'y', GITHUB_TOKEN: 'never-copied', UNLISTED: 'nope' };

describe('sandboxRequest', () => {
  it('the sample sets every field of the task-file schema, so a new field fails here until it is carried', () => {
    assert.deepEqual(Object.keys(EVERY_FIELD).sort(), Object.keys(SandboxSettingsSchema.shape).sort());
    assert.deepEqual(Object.keys(EVERY_FIELD.limits).sort(), Object.keys(SandboxLimitsSchema.shape).sort());
  });

  it('every task-file sandbox field reaches the create options', () => {
    const spec = parseBatchSpec({ sandbox: EVERY_FIELD, tasks: [{ id: 'a' }] });
    const { provider, options } = sandboxRequest(spec.tasks[0].sandbox, 'night/a', {
      env: WORKER_ENV,
      metadata: { nightshiftTaskId: 'a' },
    });
    assert.equal(provider, 'e2b');
    assert.deepEqual(options, {
      key: 'night/a',
      template: 'nightshift-node',
      metadata: { nightshiftTaskId: 'a' },
      timeoutMs: SANDBOX_TIMEOUT_MS,
      envs: { NODE_ENV: 'test', LANG_X: 'y' },
      network: { allow: ['registry.npmjs.org', 'pypi.org'] },
      limits: { memoryMb: 2048, cpus: 1.5, diskMb: 4096, openFiles: 1024, processes: 256 },
    });
  });

  it("a task's fields override the batch's, limits one by one", () => {
    const spec = parseBatchSpec({
      sandbox: EVERY_FIELD,
      tasks: [{ id: 'a', sandbox: { provider: 'docker', network_allow: [], limits: { memory_mb: 8192 } } }],
    });
    const { provider, options } = sandboxRequest(spec.tasks[0].sandbox, 'k', { env: WORKER_ENV });
    assert.equal(provider, 'docker');
    assert.equal(options.template, 'nightshift-node');
    assert.equal(options.network, 'none');
    assert.deepEqual(options.envs, { NODE_ENV: 'test', LANG_X: 'y' });
    assert.deepEqual(options.limits, { memoryMb: 8192, cpus: 1.5, diskMb: 4096, openFiles: 1024, processes: 256 });
  });

  it('no settings (histories from before tasks carried them) is a local sandbox with nothing let in', () => {
    for (const settings of [undefined, NO_SANDBOX_SETTINGS]) {
      const { provider, options } = sandboxRequest(settings, 'k', { env: WORKER_ENV });
      assert.equal(provider, 'local');
      assert.deepEqual(options, { key: 'k', timeoutMs: SANDBOX_TIMEOUT_MS, envs: {}, network: 'none' });
    }
  });

  it('refuses an unknown provider, a secret and a name that is no variable, whoever wrote the workflow input', () => {
    const refused = (settings: unknown, pattern: RegExp) =>
      assert.throws(
        () => sandboxRequest(settings as SandboxSettings, 'k', { env: WORKER_ENV }),
        (e: unknown) => e instanceof SandboxConfigError && pattern.test(e.message),
      );
    refused({ ...NO_SANDBOX_SETTINGS, provider: 'vm' }, /unknown sandbox provider "vm"; use one of local, e2b, docker/);
    refused({ ...NO_SANDBOX_SETTINGS, envAllow: ['GITHUB_TOKEN'] }, /may not name a secret \(GITHUB_TOKEN\)/);
    refused({ ...NO_SANDBOX_SETTINGS, envAllow: ['MY_API_KEY'] }, /may not name a secret/);
    refused({ ...NO_SANDBOX_SETTINGS, envAllow: ['A=B; rm -rf /'] }, /not environment variable names/);
  });

  it('the task file refuses an unknown provider before any workflow starts', () => {
    assert.throws(
      () => parseBatchSpec({ tasks: [{ id: 'c', sandbox: { provider: 'vm' } }] }),
      /sandbox\.provider: must be one of local, e2b, docker/,
    );
  });
});

describe('sandboxRequest through the e2b provider', () => {
  let fake: FakeE2B;
  before(async () => {
    fake = await startFakeE2B('e2b_fake_key');
  });
  after(() => fake.close());

  it('the template, variables and network allowlist are what the provider is sent', async () => {
    const e2b = createE2BProvider({ apiKey: 'e2b_fake_key', apiUrl: fake.url, sandboxUrl: fake.sandboxUrl });
    const router = routeSandboxes({
      local: () => {
        throw new Error('a task that asked for e2b got a local sandbox');
      },
      e2b,
    });
    const spec = parseBatchSpec({ sandbox: EVERY_FIELD, tasks: [{ id: 'a' }] });
    const { provider, options } = sandboxRequest(spec.tasks[0].sandbox, 'night/e2b-a', { env: WORKER_ENV });
    const made = await router.createOn(provider, options);
    assert.match(made.id, /^e2b:/);
    const sent = fake.sandboxes.get(made.id.slice('e2b:'.length))!;
    assert.equal(sent.templateID, 'nightshift-node');
    assert.deepEqual(sent.envVars, { NODE_ENV: 'test', LANG_X: 'y' });
    assert.deepEqual((sent.body.network as { allowOut: string[] }).allowOut, ['registry.npmjs.org', 'pypi.org']);
    assert.equal(await made.kill(), true);
  });
});
