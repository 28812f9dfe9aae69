/**
 * The git side of delivery with real repositories: the commit made in a local (bubblewrap)
 * sandbox leaves as a bundle, thin when the receiver has the base and full when it has
 * not; the push is read back from the remote, and a remote that ends up elsewhere is an
 * error; the token travels only in the git process's environment.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createDeliveryActivities } from '../../activities/task/delivery';
import { authEnv, deliveryRepoFor, pushAccess, pushBranch } from '../../activities/task/delivery/git';
import { FileTranscriptStore } from '../../activities/task/transcripts';
import { createLocalProvider, shutdownIsolation } from '../../sandbox/local';
import { prepareWorkspace } from '../../sandbox/workspace';
import { makeRepo, tempDir } from '../sandbox/helpers';
import { git } from './helpers';

after(() => shutdownIsolation());

async function setup(o: { repo: string; cloneFrom: string }) {
  const root = tempDir('delivery-root');
  const sandboxes = createLocalProvider({ root: path.join(root, '.nightshift', 'sandboxes') });
  const acts = createDeliveryActivities({
    config: { root, github: {} },
    sandboxes,
    transcripts: new FileTranscriptStore({ dir: path.join(root, 't') }),
  });
  const sandbox = await sandboxes.create({ key: `git-test/${Math.random()}` });
  await prepareWorkspace(sandbox, { repo: o.cloneFrom, branch: 'main' });
  await sandbox.writeFile('src/new.ts', 'export const n = 1;\n');
  const input = {
    workflowId: 'b/t',
    sandboxId: sandbox.id,
    repo: o.repo,
    branch: 'nightshift/2026-11-21/t',
    message: 'nightshift: t: a title',
    at: Date.UTC(2026, 10, 21),
    reviewFirst: false,
    batchId: 'nightshift-2026-11-21',
    date: '2026-11-21',
    taskId: 't',
  };
  const mock = new MockActivityEnvironment();
  // MockActivityEnvironment.run is typed loosely; keep each activity's own result type.
  const env = { run: <I, O>(fn: (i: I) => Promise<O>, i: I) => mock.run(fn, i) as Promise<O> };
  return { root, acts, sandbox, input, env };
}

test('a retried commit is the same commit; the bundle reaches the delivery repository', async () => {
  const { bare } = makeRepo();
  const { root, acts, input, env, sandbox } = await setup({ repo: bare, cloneFrom: bare });
  const first = await env.run(acts.commitWork, input);
  const again = await env.run(acts.commitWork, input);
  assert.ok(first.commit);
  assert.equal(again.commit, first.commit, 'fixed dates: the retry made the very same commit');
  assert.deepEqual(first.files, ['src/new.ts']);
  const repo = deliveryRepoFor({ root }, bare);
  assert.equal(git(repo, 'rev-parse', 'refs/heads/nightshift/2026-11-21/t'), first.commit);
  assert.match(readFileSync(path.join(root, 'results', '2026-11-21', 't.patch'), 'utf8'), /\+export const n = 1;/);
  assert.deepEqual(
    (await sandbox.list('.')).map((e) => e.path).filter((p) => p.startsWith('.nightshift')),
    [],
    'no bundle or patch left in the workspace',
  );
});

test('a receiver without the base gets a full bundle', async () => {
  const { bare } = makeRepo();
  const { bare: unrelated } = makeRepo();
  // The workspace came from `bare`; the task's remote is another repository that lacks its history.
  const { root, acts, input, env } = await setup({ repo: unrelated, cloneFrom: bare });
  const r = await env.run(acts.commitWork, input);
  assert.equal(git(deliveryRepoFor({ root }, unrelated), 'rev-parse', 'refs/heads/nightshift/2026-11-21/t'), r.commit);
  assert.equal(git(deliveryRepoFor({ root }, unrelated), 'rev-parse', `${r.commit}^`), git(bare, 'rev-parse', 'main'));
});

test('push: verified against the remote, idempotent, and a remote that ends up elsewhere is an error', async () => {
  const { bare } = makeRepo();
  const { root, acts, input, env } = await setup({ repo: bare, cloneFrom: bare });
  const { commit } = await env.run(acts.commitWork, input);
  assert.deepEqual(await env.run(acts.pushWork, { repo: bare, branch: input.branch, commit: commit! }), {
    pushed: true,
  });
  assert.deepEqual(await env.run(acts.pushWork, { repo: bare, branch: input.branch, commit: commit! }), {
    pushed: true,
  });
  assert.equal(git(bare, 'rev-parse', `refs/heads/${input.branch}`), commit);

  // A remote whose hook moves the branch after accepting the push: the push "succeeded", the ref is wrong.
  const { bare: liar } = makeRepo();
  const hook = path.join(liar, 'hooks', 'post-receive');
  writeFileSync(hook, '#!/bin/sh\nwhile read old new ref; do git update-ref "$ref" "$(git rev-parse main)"; done\n');
  chmodSync(hook, 0o755);
  await assert.rejects(
    pushBranch(deliveryRepoFor({ root }, bare), { remote: liar, branch: input.branch, commit: commit! }),
    /pushed nightshift\/2026-11-21\/t but the remote reports [0-9a-f]{40} instead of/,
  );
});

test('push: a task replaces only its own earlier push; a branch holding commits it did not make is left alone', async () => {
  const { bare } = makeRepo();
  const { root, acts, input, env, sandbox } = await setup({ repo: bare, cloneFrom: bare });
  const first = await env.run(acts.commitWork, input);
  assert.deepEqual(await env.run(acts.pushWork, { repo: bare, branch: input.branch, commit: first.commit! }), {
    pushed: true,
  });

  // A rerun of the same task of the same batch makes another commit on the same branch: it replaces its own.
  await sandbox.writeFile('src/new.ts', 'export const n = 2;\n');
  const second = await env.run(acts.commitWork, { ...input, at: input.at + 60_000 });
  assert.notEqual(second.commit, first.commit);
  assert.deepEqual(await env.run(acts.pushWork, { repo: bare, branch: input.branch, commit: second.commit! }), {
    pushed: true,
  });
  assert.equal(git(bare, 'rev-parse', `refs/heads/${input.branch}`), second.commit);

  // Someone else's commit on the branch (a person, another batch's worker): it stands.
  const theirs = git(bare, 'commit-tree', '-p', second.commit!, '-m', "a reviewer's fix", `${second.commit!}^{tree}`);
  git(bare, 'update-ref', `refs/heads/${input.branch}`, theirs);
  await sandbox.writeFile('src/new.ts', 'export const n = 3;\n');
  const third = await env.run(acts.commitWork, { ...input, at: input.at + 120_000 });
  const r = await env.run(acts.pushWork, { repo: bare, branch: input.branch, commit: third.commit! });
  assert.equal(r.pushed, false);
  assert.match(
    r.reason ?? '',
    new RegExp(`nightshift/2026-11-21/t on the remote is at ${theirs.slice(0, 12)}, which this task did not push`),
  );
  assert.equal(git(bare, 'rev-parse', `refs/heads/${input.branch}`), theirs, 'their commit is still there');

  // A branch that existed before this delivery repository ever pushed to it is not taken over either.
  const {
    root: otherRoot,
    acts: other,
    input: otherInput,
    env: otherEnv,
  } = await setup({ repo: bare, cloneFrom: bare });
  assert.notEqual(otherRoot, root);
  const fresh = await otherEnv.run(other.commitWork, otherInput);
  const r2 = await otherEnv.run(other.pushWork, { repo: bare, branch: otherInput.branch, commit: fresh.commit! });
  assert.equal(r2.pushed, false);
  assert.equal(git(bare, 'rev-parse', `refs/heads/${input.branch}`), theirs);
});

test('push of a follow-up: a fast-forward of a branch another worker pushed; commits added meanwhile are never replaced', async () => {
  const { bare } = makeRepo();
  const { acts, input, env, sandbox } = await setup({ repo: bare, cloneFrom: bare });
  // The PR's branch, pushed by the night before (not from this delivery repository), at the workspace's start.
  const prHead = git(bare, 'rev-parse', 'main');
  git(bare, 'update-ref', `refs/heads/${input.branch}`, prHead);
  const fix = await env.run(acts.commitWork, input);
  assert.deepEqual(
    await env.run(acts.pushWork, { repo: bare, branch: input.branch, commit: fix.commit! }),
    {
      pushed: false,
      reason: `${input.branch} on the remote is at ${prHead.slice(0, 12)}, which this task did not push; it was left as it is`,
    },
    'a night task never takes over a branch',
  );
  assert.deepEqual(
    await env.run(acts.pushWork, { repo: bare, branch: input.branch, commit: fix.commit!, fastForwardOnly: true }),
    { pushed: true },
  );
  assert.equal(git(bare, 'rev-parse', `refs/heads/${input.branch}`), fix.commit);
  assert.equal(git(bare, 'rev-parse', `${fix.commit!}^`), prHead, 'on top of the PR head');
  assert.deepEqual(
    await env.run(acts.pushWork, { repo: bare, branch: input.branch, commit: fix.commit!, fastForwardOnly: true }),
    { pushed: true },
    'a retry finds it there',
  );

  // A reviewer pushes a commit of their own; the next commit, made without it, is not pushed over it.
  const theirs = git(bare, 'commit-tree', '-p', fix.commit!, '-m', "a reviewer's fix", `${fix.commit!}^{tree}`);
  git(bare, 'update-ref', `refs/heads/${input.branch}`, theirs);
  await sandbox.writeFile('src/new.ts', 'export const n = 2;\n');
  const next = await env.run(acts.commitWork, { ...input, at: input.at + 60_000 });
  const r = await env.run(acts.pushWork, {
    repo: bare,
    branch: input.branch,
    commit: next.commit!,
    fastForwardOnly: true,
  });
  assert.equal(r.pushed, false);
  assert.match(r.reason ?? '', new RegExp(`moved to ${theirs.slice(0, 12)}, which this task did not start from`));
  assert.equal(git(bare, 'rev-parse', `refs/heads/${input.branch}`), theirs, 'their commit is still there');
});

test('credentials: an Authorization header in the environment only; no push without a token or over plain git', () => {
  const env = authEnv('https://github.com/acme/widgets.git', 'ghs_secret');
  assert.equal(env.GIT_CONFIG_KEY_0, 'http.https://github.com/.extraheader');
  assert.equal(
    env.GIT_CONFIG_VALUE_0,
    `AUTHORIZATION: basic ${Buffer.from('x-access-token:ghs_secret').toString('base64')}`,
  );
  assert.deepEqual(authEnv('/srv/git/x.git', 'ghs_secret'), {}, 'a local remote gets no token');
  assert.deepEqual(pushAccess('https://github.com/acme/widgets.git', undefined), {
    ok: false,
    reason: 'no GITHUB_TOKEN in the worker environment to push with',
  });
  assert.equal(pushAccess('git://example.com/x.git', 'ghs_secret').ok, false);
  assert.equal(pushAccess('/no/such/repo.git', undefined).ok, false);
});
