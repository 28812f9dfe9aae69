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
import { E2B_KEY_METADATA } from '../../sandbox/e2b';
import { devServerForFile } from '../helpers/temporal';
import { startFakeE2B } from '../fakes/e2b-server';
import { startFakeGitHub } from '../fakes/github-server';
import { deliveryConfig, deliveryWorker, GITHUB_REPO, remote } from '../delivery/helpers';
import { assertNightDelivered, nightSpec, runAnsweredNight, startNightModel } from './remote-night';

const server = devServerForFile();
const DATE = '2026-11-23';
const E2B_KEY = 'e2b_night_key';

test('an e2b night: a question is answered, a dependent task starts from its dependency, survives losing its sandbox, and both open PRs', async () => {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  const e2b = await startFakeE2B(E2B_KEY);
  const deleted: string[] = [];
  // The sandbox goes while the model thinks: deleted through E2B's own API.
  const { model, toolResults } = await startNightModel(async () => {
    for (const s of [...e2b.sandboxes.values()].filter((s) => s.metadata.nightshiftTaskId === 'api')) {
      deleted.push(s.sandboxID);
      void fetch(`${e2b.url}/sandboxes/${s.sandboxID}`, { method: 'DELETE', headers: { 'x-api-key': E2B_KEY } });
    }
  });
  try {
    const config = {
      ...deliveryConfig(server.env, model.url, gh.url),
      e2b: { apiKey: E2B_KEY, apiUrl: e2b.url, sandboxUrl: e2b.sandboxUrl, template: 'nightshift-night' },
    };
    const worker = await deliveryWorker(server.env, config);
    const result = await runAnsweredNight(server.env, worker, nightSpec(DATE, { provider: 'e2b' }, bare));
    assertNightDelivered(result, bare, toolResults, gh);
    assert.equal(deleted.length, 1);

    // E2B as its users see it: labelled sandboxes (the task's, the rebuilt one, the baseline checks' on the base), from the configured template, all killed.
    const byTask = (id: string) =>
      e2b.created.filter(
        (s) => s.metadata.nightshiftTaskId === id && !s.metadata[E2B_KEY_METADATA].includes('#baseline'),
      );
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
    for (const route of ['RPC process.Process/Start', 'POST /files', 'GET /files'])
      assert.ok(e2b.requests.includes(route), route);
  } finally {
    await Promise.all([model.close(), gh.close(), e2b.close()]);
  }
});
