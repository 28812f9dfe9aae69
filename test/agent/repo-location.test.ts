/**
 * Which `context.repo` values are remote and which are local paths: git's own rule (a
 * scheme, or a colon before any slash), so a local path holding an `@` is a path. The
 * last test clones such a path through prepareAgent in a real local sandbox.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAgentActivities } from '../../activities/task/sandbox-steps';
import { FileTranscriptStore } from '../../activities/task/transcripts';
import { resolveRemote } from '../../activities/task/delivery/git';
import { isRemoteRepo, repoLocation } from '../../common/repo-location';
import { createLocalProvider, type LocalSandbox } from '../../sandbox/local';
import { shutdownIsolation } from '../../sandbox/os-isolation';
import { routeSandboxes } from '../../sandbox/router';
import { agentSpec } from './helpers';
import { makeRepo, tempDir } from '../sandbox/helpers';

after(() => shutdownIsolation());

test('URLs and scp-like addresses are remote', () => {
  for (const r of [
    'https://github.com/acme/widgets.git',
    'ssh://git@github.com/acme/widgets.git',
    'git://example.com/r',
    'file:///srv/r.git',
    'git@github.com:acme/widgets.git',
    'github.com:acme/widgets',
    'deploy@10.0.0.5:repos/app',
  ]) {
    assert.equal(isRemoteRepo(r), true, r);
    assert.equal(repoLocation('/root', r), r, r);
    assert.equal(resolveRemote('/root', r), r, r);
  }
});

test("local paths are local, '@' and ':' after a slash included", () => {
  const cases: [string, string][] = [
    ['/srv/repos/team@2026/app', '/srv/repos/team@2026/app'],
    ['repos/me@work/app', '/root/repos/me@work/app'],
    ['./a@b:c', '/root/a@b:c'],
    ['/tmp/x:y@z', '/tmp/x:y@z'],
    ['app', '/root/app'],
    ['../sibling@1', '/sibling@1'],
  ];
  for (const [repo, want] of cases) {
    assert.equal(isRemoteRepo(repo), false, repo);
    assert.equal(repoLocation('/root', repo), want, repo);
    assert.equal(resolveRemote('/root', repo), want, repo);
  }
});

test("prepareAgent clones a local repository whose path holds an '@'", async () => {
  const { bare } = makeRepo();
  const root = tempDir('at-root');
  const parent = path.join(root, 'team@2026');
  mkdirSync(parent);
  execFileSync('git', ['clone', '--quiet', '--bare', bare, path.join(parent, 'app.git')]);
  const sandboxes = createLocalProvider({ root: path.join(root, '.nightshift', 'sandboxes') });
  const acts = createAgentActivities({
    config: { root },
    sandboxes: routeSandboxes({ local: sandboxes }),
    transcripts: new FileTranscriptStore({ dir: path.join(root, 't') }),
  });
  const sandbox = (await sandboxes.create({ key: 'at-test/agent-1' })) as LocalSandbox;
  // Relative to NIGHTSHIFT_ROOT, as a task file would write it.
  const task = agentSpec({ repo: 'team@2026/app.git', contextFiles: ['README.md'] });
  const r = (await new MockActivityEnvironment().run(acts.prepareAgent, {
    workflowId: 'at-test/agent-1',
    sandboxId: sandbox.id,
    task,
  })) as Awaited<ReturnType<typeof acts.prepareAgent>>;
  assert.deepEqual(r.missingContextFiles, []);
  assert.ok(existsSync(path.join(sandbox.workspaceDir, '.git')));
  assert.equal(readFileSync(path.join(sandbox.workspaceDir, 'README.md'), 'utf8'), '# demo\n');
  assert.equal(
    execFileSync('git', ['remote', 'get-url', 'origin'], { cwd: sandbox.workspaceDir, encoding: 'utf8' }).trim(),
    path.join(parent, 'app.git'),
  );
});
