/**
 * Workspaces of a sandbox the worker reaches only through exec, readFile and writeFile
 * (e2b, here its loopback fake with real commands underneath): a clone from a bundle,
 * checkpoints that leave as bundles, a restore into a new sandbox, and a dependency's
 * branch sent in from the worker's delivery repository.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createE2BProvider } from '../../sandbox/e2b';
import type { SandboxProvider } from '../../sandbox/types';
import {
  checkpoint,
  checkpointRef,
  ensureCheckpointStore,
  hostWorkspaceOf,
  policyWorkspaceRoot,
  prepareWorkspace,
  restore,
} from '../../sandbox/workspace';
import { startFromDependencies } from '../../activities/task/delivery/dependencies';
import { receiveFile, sendFile, TRANSFER_CHUNK_BYTES } from '../../sandbox/remote-workspace';
import { startFakeE2B, type FakeE2B } from '../fakes/e2b-server';
import { gitIn, makeRepo, tempDir } from './helpers';

const text = async (p: Promise<Uint8Array>) => Buffer.from(await p).toString();

describe('a remote workspace through the sandbox interface', () => {
  let fake: FakeE2B;
  let provider: SandboxProvider;
  before(async () => {
    fake = await startFakeE2B('ws_key');
    provider = createE2BProvider({ apiKey: 'ws_key', apiUrl: fake.url, sandboxUrl: fake.sandboxUrl });
  });
  after(() => fake.close());

  it('clones from a bundle, checkpoints out as a bundle, and restores into a new sandbox', async () => {
    const { repo, bare } = makeRepo();
    gitIn(repo, 'checkout', '-q', '-b', 'feature');
    fs.writeFileSync(path.join(repo, 'feature.txt'), 'on feature\n');
    gitIn(repo, 'add', '.');
    gitIn(repo, 'commit', '-q', '-m', 'feature');
    gitIn(repo, 'push', '-q', bare, 'feature');
    const sbx = await provider.create({ key: 'ws/one' });
    assert.equal(hostWorkspaceOf(sbx), undefined, 'a remote workspace has no path on this host');
    assert.equal(policyWorkspaceRoot(sbx), '/home/user/workspace');
    const prepared = await prepareWorkspace(sbx, {
      repo: bare,
      branch: 'nightshift/one',
      base: 'feature',
      contextFiles: ['README.md', 'nope.md', '../outside'],
    });
    assert.equal(prepared.branch, 'nightshift/one');
    assert.equal(prepared.head, gitIn(bare, 'rev-parse', 'feature'));
    assert.deepEqual(prepared.missingContextFiles, ['nope.md', '../outside']);
    assert.equal(await text(sbx.readFile('feature.txt')), 'on feature\n');
    const remotes = (await sbx.exec('git remote -v && git branch -r')).stdout;
    assert.match(remotes, new RegExp(`origin\\s+${bare}`));
    assert.match(remotes, /origin\/main/);
    assert.equal((await sbx.exec('ls -a')).stdout.includes('.bundle'), false, 'the transfer files are gone');
    // A second prepare (a retried activity) leaves the work alone.
    await sbx.writeFile('feature.txt', 'changed\n');
    await prepareWorkspace(sbx, { repo: bare, branch: 'nightshift/one', base: 'feature' });
    assert.equal(await text(sbx.readFile('feature.txt')), 'changed\n');

    await sbx.writeFile('notes/new.md', 'new file\n');
    await sbx.exec('rm README.md');
    const store = path.join(tempDir('ws-store'), 'checkpoints.git');
    await ensureCheckpointStore(store);
    const ref = checkpointRef('ws/one@run');
    const first = await checkpoint(sbx, store, ref, 'after turn 1');
    assert.equal(
      execFileSync('git', ['--git-dir', store, 'rev-parse', `${first}^`], { encoding: 'utf8' }).trim(),
      prepared.head,
    );
    const files = execFileSync('git', ['--git-dir', store, 'ls-tree', '-r', '--name-only', first], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .sort();
    assert.deepEqual(files, ['CLAUDE.md', 'feature.txt', 'notes/new.md']);
    await sbx.writeFile('notes/new.md', 'second version\n');
    const second = await checkpoint(sbx, store, ref, 'after turn 2');
    assert.notEqual(second, first);
    assert.equal(
      execFileSync('git', ['--git-dir', store, 'show', `${second}:notes/new.md`], { encoding: 'utf8' }),
      'second version\n',
    );

    assert.equal(await sbx.kill(), true);
    const fresh = await provider.create({ key: 'ws/one-again' });
    assert.equal(await restore(fresh, store, ref), second);
    assert.equal(await text(fresh.readFile('notes/new.md')), 'second version\n');
    assert.equal(await text(fresh.readFile('feature.txt')), 'changed\n');
    const status = (await fresh.exec('git rev-parse --abbrev-ref HEAD && git rev-parse HEAD && git status --short'))
      .stdout;
    assert.equal(status, `nightshift/one\n${prepared.head}\n D README.md\n M feature.txt\n?? notes/\n`);
    assert.equal(await restore(fresh, store, checkpointRef('never')), null);
    await fresh.kill();
  });

  it('moves a file larger than one piece in and out unchanged, leaving no pieces behind', async () => {
    const sbx = await provider.create({ key: 'ws/transfer' });
    const dir = tempDir('ws-transfer');
    const big = Buffer.concat([
      randomBytes(TRANSFER_CHUNK_BYTES),
      randomBytes(TRANSFER_CHUNK_BYTES),
      randomBytes(12345),
    ]);
    fs.writeFileSync(path.join(dir, 'in.bin'), big);
    const sha = createHash('sha256').update(big).digest('hex');
    await sendFile(sbx, path.join(dir, 'in.bin'), 'big.bin');
    assert.equal((await sbx.exec('sha256sum big.bin')).stdout.split(' ')[0], sha);
    await receiveFile(sbx, 'big.bin', path.join(dir, 'out.bin'));
    assert.equal(
      createHash('sha256')
        .update(fs.readFileSync(path.join(dir, 'out.bin')))
        .digest('hex'),
      sha,
    );
    assert.equal((await sbx.exec('ls -A')).stdout, '', 'the file and its pieces are gone from the sandbox');
    await sbx.kill();
  });

  it('a dependent task starts from its dependency branch, sent in from the delivery repository', async () => {
    const { repo, bare } = makeRepo();
    const delivery = path.join(tempDir('ws-delivery'), 'delivery.git');
    execFileSync('git', ['clone', '-q', '--bare', bare, delivery]);
    gitIn(repo, 'checkout', '-q', '-b', 'nightshift/dep');
    fs.writeFileSync(path.join(repo, 'dep.txt'), 'from the dependency\n');
    gitIn(repo, 'add', '.');
    gitIn(repo, 'commit', '-q', '-m', 'dependency work');
    gitIn(repo, 'push', '-q', delivery, 'nightshift/dep');
    const depCommit = gitIn(repo, 'rev-parse', 'HEAD');
    const sbx = await provider.create({ key: 'ws/dependent' });
    await prepareWorkspace(sbx, { repo: bare, branch: 'nightshift/dependent' });
    const r = await startFromDependencies(sbx, {
      taskId: 'dependent',
      workBranch: 'nightshift/dependent',
      deliveryRepo: delivery,
      remote: bare,
      authEnv: {},
      dependencies: [{ taskId: 'dep', branch: 'nightshift/dep', commit: depCommit, pushed: false }],
    });
    assert.equal(r.head, depCommit);
    assert.equal(await text(sbx.readFile('dep.txt')), 'from the dependency\n');
    assert.equal((await sbx.exec('git rev-parse --abbrev-ref HEAD')).stdout.trim(), 'nightshift/dependent');
    assert.equal(
      execFileSync('git', ['--git-dir', delivery, 'for-each-ref', 'refs/nightshift'], { encoding: 'utf8' }),
      '',
      'no transfer ref left behind',
    );
    // Idempotent: a retry finds the commit in HEAD.
    const again = await startFromDependencies(sbx, {
      taskId: 'dependent',
      workBranch: 'nightshift/dependent',
      deliveryRepo: delivery,
      remote: bare,
      authEnv: {},
      dependencies: [{ taskId: 'dep', branch: 'nightshift/dep', commit: depCommit, pushed: false }],
    });
    assert.equal(again.head, depCommit);
    await sbx.kill();
  });
});
