import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { SandboxGone } from '../../common/errors';
import { createLocalProvider, type LocalSandbox, shutdownIsolation } from '../../sandbox/local';
import { checkpoint, checkpointRef, prepareWorkspace, restore } from '../../sandbox/workspace';
import { gitIn, makeRepo, tempDir } from './helpers';

describe('local sandbox lifecycle', () => {
  const root = path.join(tempDir('life'), '.nightshift', 'sandboxes');
  after(() => shutdownIsolation());

  it('create is idempotent by key, repeated and concurrent, across provider instances', async () => {
    const a = createLocalProvider({ root });
    const b = createLocalProvider({ root });
    const all = await Promise.all([...Array(6)].map((_, i) => (i % 2 ? a : b).create({ key: 'batch/task-1' })));
    const again = await a.create({ key: 'batch/task-1' });
    assert.equal(new Set([...all, again].map((s) => s.id)).size, 1);
    assert.equal(
      fs.readdirSync(root).filter((n) => !n.startsWith('.')).length,
      1,
      'one directory, no staging left over',
    );
    assert.equal(fs.readdirSync(root).length, 1);
    const other = await a.create({ key: 'batch/task-2' });
    assert.notEqual(other.id, again.id);
    await (all[0] as LocalSandbox).writeFile('marker.txt', 'kept');
    const connected = await b.connect(again.id);
    assert.equal(Buffer.from(await connected.readFile('marker.txt')).toString(), 'kept');
    assert.equal(await connected.kill(), true);
    assert.equal(await again.kill(), false);
    await assert.rejects(a.connect(again.id), SandboxGone);
    await assert.rejects(again.exec('true'), SandboxGone);
    await assert.rejects(a.connect('../../etc'), SandboxGone);
    await other.kill();
  });

  it('discard kills the sandbox made with a key and is false when there is none', async () => {
    const provider = createLocalProvider({ root });
    const first = await provider.create({ key: 'batch/discarded' });
    await first.writeFile('left-by-attempt-1.txt', 'stale');
    assert.equal(await provider.discard!('batch/discarded'), true);
    await assert.rejects(provider.connect(first.id), SandboxGone);
    assert.equal(await provider.discard!('batch/discarded'), false);
    assert.equal(await provider.discard!('batch/never-made'), false);
    const fresh = await provider.create({ key: 'batch/discarded' });
    assert.equal(fresh.id, first.id);
    assert.deepEqual(await fresh.list('.'), []);
    assert.equal(
      fs.readdirSync(root).filter((n) => n.startsWith('.trash-') || n.startsWith('.staging-')).length,
      0,
      'nothing left half-removed',
    );
    await fresh.kill();
  });

  it('a command that starts as a cancelled one ends still runs (the placeholder .git stays its own)', async () => {
    const sb = (await createLocalProvider({ root }).create({ key: 'overlapping-commands' })) as LocalSandbox;
    // A command cancelled while the next one starts: the cancelled one's end once removed
    // the placeholder .git under the starting command's bind (bwrap: "Can't find source path").
    const failures: string[] = [];
    for (let i = 0; i < 20; i++) {
      const cancel = new AbortController();
      const long = sb.exec('sleep 30', { signal: cancel.signal }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 50));
      cancel.abort();
      const next = await sb.exec('true');
      if (next.exitCode !== 0) failures.push(next.stderr.trim());
      await long;
    }
    assert.deepEqual(failures, []);
    assert.equal(
      fs.existsSync(path.join(sb.workspaceDir, '.git')),
      false,
      'the placeholder goes with the last command',
    );
    await sb.kill();
  });

  it('files: write, read, list', async () => {
    const sb = await createLocalProvider({ root }).create({ key: 'files' });
    await sb.writeFile('src/deep/a.ts', 'export {}\n');
    await sb.writeFile('b.bin', new Uint8Array([1, 2, 3]));
    assert.deepEqual([...(await sb.readFile('b.bin'))], [1, 2, 3]);
    const entries = await sb.list('.', { depth: 3 });
    assert.deepEqual(entries.map((e) => `${e.type}:${e.path}:${e.type === 'file' ? e.size : ''}`).sort(), [
      'dir:src/deep:',
      'dir:src:',
      'file:b.bin:3',
      'file:src/deep/a.ts:10',
    ]);
    assert.deepEqual(
      (await sb.list('src')).map((e) => e.path),
      ['src/deep'],
    );
    const r = await sb.exec('cat a.ts', { cwd: 'src/deep' });
    assert.equal(r.stdout, 'export {}\n');
    await sb.kill();
  });

  it('recreates a workspace deleted mid-task from its last checkpoint', async () => {
    const { bare } = makeRepo();
    const store = path.join(path.dirname(root), 'checkpoints.git');
    const provider = createLocalProvider({ root });
    const key = 'night/task-ckpt';
    const ref = checkpointRef(key);
    const sb = (await provider.create({ key })) as LocalSandbox;
    const prepared = await prepareWorkspace(sb, {
      repo: bare,
      branch: 'nightshift/task-ckpt',
      contextFiles: ['CLAUDE.md', 'docs/MISSING.md'],
    });
    assert.deepEqual(prepared.missingContextFiles, ['docs/MISSING.md']);
    assert.equal(prepared.branch, 'nightshift/task-ckpt');
    assert.equal(gitIn(sb.workspaceDir, 'config', '-f', '.git/config', 'user.name'), 'nightshift');
    assert.equal(await restore(sb, store, ref), null, 'no checkpoint yet');

    const r = await sb.exec('echo "step one" > work.txt && echo "# changed" >> README.md && rm CLAUDE.md');
    assert.equal(r.exitCode, 0, r.stderr);
    const first = await checkpoint(sb, store, ref);
    await sb.writeFile('later.txt', 'after the checkpoint');
    const second = await checkpoint(sb, store, ref);
    assert.notEqual(first, second);
    assert.equal(
      gitIn(sb.workspaceDir, 'rev-parse', 'HEAD'),
      prepared.head,
      'checkpoints do not move the workspace HEAD',
    );
    assert.equal(
      gitIn(sb.workspaceDir, 'status', '--porcelain'),
      'D CLAUDE.md\n M README.md\n?? later.txt\n?? work.txt',
    );

    fs.rmSync(sb.dir, { recursive: true, force: true });
    await assert.rejects(sb.exec('ls'), SandboxGone);
    await assert.rejects(provider.connect(sb.id), SandboxGone);

    const fresh = (await provider.create({ key })) as LocalSandbox;
    assert.equal(await restore(fresh, store, ref), second);
    assert.equal(fs.readFileSync(path.join(fresh.workspaceDir, 'work.txt'), 'utf8'), 'step one\n');
    assert.equal(fs.readFileSync(path.join(fresh.workspaceDir, 'later.txt'), 'utf8'), 'after the checkpoint');
    assert.ok(!fs.existsSync(path.join(fresh.workspaceDir, 'CLAUDE.md')));
    assert.equal(gitIn(fresh.workspaceDir, 'rev-parse', 'HEAD'), prepared.head);
    assert.equal(gitIn(fresh.workspaceDir, 'rev-parse', '--abbrev-ref', 'HEAD'), 'nightshift/task-ckpt');
    assert.equal(gitIn(fresh.workspaceDir, 'remote', 'get-url', 'origin'), bare);
    assert.equal(
      gitIn(fresh.workspaceDir, 'status', '--porcelain'),
      'D CLAUDE.md\n M README.md\n?? later.txt\n?? work.txt',
    );
    const after = await fresh.exec('cat work.txt && git status --short | wc -l');
    assert.equal(after.stdout, 'step one\n4\n');
    await fresh.kill();
  });
});
