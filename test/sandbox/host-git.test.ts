/**
 * The worker's git never runs what the workspace says: a `.git` the agent made in a
 * repo-less task (filter clean driver, fsmonitor, hooks, insteadOf + sshCommand) is not
 * read by the checkpoint, a filter planted in the sandbox HOME does not reach the delivery
 * commit, and the commit holds exactly the tree the worker read. Scratch space is outside
 * /tmp, so the sandbox sees the marker files' directory (read-only) as a real root's.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { commitInSandbox, workTreeOf } from '../../activities/task/delivery/sandbox-commit';
import { FailureType } from '../../common/errors';
import { createLocalProvider, shutdownIsolation, type LocalSandbox } from '../../sandbox/local';
import {
  checkpoint,
  checkpointRef,
  DELIVERY_FILES,
  git,
  hostWorkspaceOf,
  policyWorkspaceRoot,
  prepareWorkspace,
  restore,
  snapshotWorkTree,
} from '../../sandbox/workspace';
import { scratchDir } from '../helpers/outside-tmp';
import { makeRepo } from './helpers';

const gitDir = (dir: string, ...args: string[]) =>
  execFileSync('git', ['--git-dir', dir, ...args], { encoding: 'utf8' }).trim();

/** A config whose every hook into a program touches `marker` when run on the host. */
function hostileGitConfig(marker: string): string {
  // Quoted: an unquoted `;` starts a comment in git's config syntax.
  const run = `"sh -c 'echo ran >> ${marker}; cat'"`;
  return [
    '[core]',
    '\trepositoryformatversion = 0',
    `\tfsmonitor = ${run}`,
    '\thooksPath = hooks',
    `\tsshCommand = ${run}`,
    `\tpager = ${run}`,
    '[filter "evil"]',
    `\tclean = ${run}`,
    `\tsmudge = ${run}`,
    '\trequired = true',
    '[url "ssh://attacker.invalid/"]',
    '\tinsteadOf = /',
    '[remote "origin"]',
    '\turl = /anything',
    '',
  ].join('\n');
}

describe('host git over a hostile workspace', () => {
  const scratch = scratchDir('host-git');
  const root = path.join(scratch, '.nightshift', 'sandboxes');
  const store = path.join(scratch, '.nightshift', 'checkpoints.git');
  const provider = createLocalProvider({ root });
  const marker = path.join(scratch, 'program-ran-on-host');

  before(() => fs.rmSync(marker, { force: true }));
  after(() => shutdownIsolation());

  it('a repo-less checkpoint reads an agent-made .git as plain files and runs none of its programs', async () => {
    const sb = (await provider.create({ key: 'host-git/repo-less' })) as LocalSandbox;
    assert.equal(hostWorkspaceOf(sb), sb.workspaceDir, 'a local workspace is read where it is on the host');
    assert.equal(policyWorkspaceRoot(sb), sb.workspaceDir);
    // Planted by a real sandbox command, as the agent would; no word "git" on the line.
    const plant = await sb.exec(
      [
        'mkdir -p .git/objects .git/refs/heads .git/hooks',
        "printf 'ref: refs/heads/main\\n' > .git/HEAD",
        `cat > .git/config <<'EOF'\n${hostileGitConfig(marker)}EOF`,
        `printf '#!/bin/sh\\necho hook >> ${marker}\\n' > .git/hooks/post-index-change && chmod +x .git/hooks/post-index-change`,
        "printf '* filter=evil\\n' > .gitattributes",
        "printf 'the work\\n' > work.txt",
        'mkdir -p node_modules/dep lib/node_modules/x && touch node_modules/dep/index.js lib/node_modules/x/y.js',
        `touch ${marker} 2>/dev/null && echo 'marker writable from the sandbox' || true`,
      ].join('\n'),
    );
    assert.equal(plant.exitCode, 0, plant.stderr);
    assert.doesNotMatch(plant.stdout, /marker writable/, 'the sandbox cannot write the marker: only the host can');

    const ref = checkpointRef('host-git/repo-less');
    const commit = await checkpoint(sb, store, ref, 'after write_file');
    assert.ok(
      !fs.existsSync(marker),
      `the agent's program ran on the host: ${fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8') : ''}`,
    );
    assert.equal(
      gitDir(store, 'rev-list', '--parents', '-n', '1', commit),
      commit,
      'no parent: the agent-made .git is not a base',
    );
    assert.deepEqual(
      gitDir(store, 'ls-tree', '-r', '--name-only', commit).split('\n'),
      ['.gitattributes', 'work.txt'],
      'neither the .git nor installed packages are in the snapshot',
    );
    assert.equal(gitDir(store, 'show', `${commit}:work.txt`), 'the work', 'stored as written, through no filter');

    // The files come back into a new sandbox, again through no filter.
    await sb.kill();
    const fresh = (await provider.create({ key: 'host-git/repo-less' })) as LocalSandbox;
    assert.equal(await restore(fresh, store, ref), commit);
    assert.equal(fs.readFileSync(path.join(fresh.workspaceDir, 'work.txt'), 'utf8'), 'the work\n');
    assert.ok(!fs.existsSync(marker));

    // Control: plain git on the host, as the checkpoint used to run, does run the planted filter.
    const control = fs.mkdtempSync(path.join(scratch, 'control-ws-'));
    fs.mkdirSync(path.join(control, '.git', 'objects'), { recursive: true });
    fs.mkdirSync(path.join(control, '.git', 'refs', 'heads'), { recursive: true });
    fs.writeFileSync(path.join(control, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    fs.writeFileSync(path.join(control, '.git', 'config'), hostileGitConfig(marker));
    fs.writeFileSync(path.join(control, '.gitattributes'), '* filter=evil\n');
    fs.writeFileSync(path.join(control, 'work.txt'), 'the work\n');
    execFileSync('git', ['add', '-A'], { cwd: control, env: { ...process.env, HOME: control } });
    assert.ok(fs.existsSync(marker), 'the control attack works, so its absence above means something');
    fs.rmSync(marker);
    await fresh.kill();
  });

  it('the delivery commit ignores a filter planted in the sandbox HOME, and holds the tree the worker read', async () => {
    const sb = (await provider.create({ key: 'host-git/home-filter' })) as LocalSandbox;
    const { bare } = makeRepo();
    await prepareWorkspace(sb, { repo: bare, branch: 'main' });
    fs.appendFileSync(path.join(sb.workspaceDir, '.gitignore'), 'ignored.txt\n');
    const plant = await sb.exec(
      [
        'mkdir -p "$HOME/.config/git"',
        `printf '[filter "evil"]\\n\\tclean = sh -c "touch \\\\"$PWD/FILTER-RAN\\\\"; sed s/good/EVIL/"\\n\\trequired = true\\n' > "$HOME/.gitconfig"`,
        `printf '* filter=evil\\n' > "$HOME/.config/git/attributes"`,
        "printf 'good\\n' > app.txt",
        'mkfifo pipe',
        'ln -s app.txt link',
        // Control: an ordinary git in the sandbox does apply the planted filter.
        'cd "$TMPDIR" && rm -rf c && git init -q c && cd c && printf "good\\n" > f && git add f && git show :f',
      ].join('\n'),
    );
    assert.equal(plant.exitCode, 0, plant.stderr);
    assert.match(plant.stdout, /^EVIL$/m, 'the planted filter is live for ordinary git in the sandbox');

    const worker = await snapshotWorkTree(sb, store);
    const made = await commitInSandbox(sb, {
      branch: 'nightshift/t',
      message: 'm',
      identity: { name: 'n', email: 'n@x' },
      at: Date.UTC(2026, 10, 21),
      bundle: true,
      expectTree: worker.tree,
    });
    assert.equal(made.tree, worker.tree, 'the sandbox commit and the worker read the same tree');
    assert.ok(made.commit);
    assert.ok(!fs.existsSync(path.join(sb.workspaceDir, 'FILTER-RAN')), 'the filter never ran');
    assert.equal(gitDir(store, 'show', `${worker.tree}:app.txt`), 'good');
    assert.equal(gitDir(store, 'cat-file', '-t', `${worker.tree}:link`), 'blob', 'the symlink is kept as a link');
    assert.throws(() => gitDir(store, 'cat-file', '-t', `${worker.tree}:pipe`), 'a FIFO is no file of the tree');
    await sb.kill();
  });

  it('refuses to commit a tree other than the one the checks ran on', async () => {
    const sb = (await provider.create({ key: 'host-git/changed' })) as LocalSandbox;
    const { bare } = makeRepo();
    await prepareWorkspace(sb, { repo: bare, branch: 'main' });
    await sb.writeFile('app.txt', 'checked\n');
    const checked = await snapshotWorkTree(sb, store);
    await sb.exec("printf 'swapped after the checks\\n' > app.txt");
    await assert.rejects(
      commitInSandbox(sb, {
        branch: 'nightshift/t',
        message: 'm',
        identity: { name: 'n', email: 'n@x' },
        at: 0,
        bundle: true,
        expectTree: checked.tree,
      }),
      (err: unknown) =>
        err instanceof ApplicationFailure &&
        err.type === FailureType.CheckedTreeChanged &&
        err.nonRetryable &&
        err.message.includes(checked.tree),
    );
    await sb.exec("printf 'checked\\n' > app.txt");
    const again = await commitInSandbox(sb, {
      branch: 'nightshift/t',
      message: 'm',
      identity: { name: 'n', email: 'n@x' },
      at: 0,
      bundle: false,
      expectTree: checked.tree,
    });
    assert.equal(again.tree, checked.tree, 'the same content is the same tree again');
    await sb.kill();
  });

  it('a commit a killed worker left half-written (patch, bundle, bundle lock) neither changes the tree nor blocks the next', async () => {
    const sb = (await provider.create({ key: 'host-git/left-behind' })) as LocalSandbox;
    const { bare } = makeRepo();
    await prepareWorkspace(sb, { repo: bare, branch: 'main' });
    await sb.writeFile('app.txt', 'checked\n');
    const checked = await snapshotWorkTree(sb, store);
    // What a worker SIGKILLed inside `git bundle create` leaves at the workspace's top.
    for (const f of DELIVERY_FILES) fs.writeFileSync(path.join(sb.workspaceDir, f), 'half-written');
    assert.equal((await snapshotWorkTree(sb, store)).tree, checked.tree, 'the left files are not part of the work');
    const made = await commitInSandbox(sb, {
      branch: 'nightshift/t',
      message: 'm',
      identity: { name: 'n', email: 'n@x' },
      at: 0,
      bundle: true,
      expectTree: checked.tree,
    });
    assert.equal(made.tree, checked.tree);
    assert.ok(made.bundle && made.bundle.length > 0, 'the bundle was written despite the stale lock');
    for (const f of DELIVERY_FILES) assert.ok(!fs.existsSync(path.join(sb.workspaceDir, f)), `${f} is cleaned up`);
    await sb.kill();
  });

  it('a workspace cloned before clones were marked gets no tree to hold the commit to (a night across an upgrade)', async () => {
    const sb = (await provider.create({ key: 'host-git/unmarked' })) as LocalSandbox;
    const { bare } = makeRepo();
    await prepareWorkspace(sb, { repo: bare, branch: 'main' });
    const marked = await workTreeOf(sb, store);
    assert.equal(
      marked,
      (
        await commitInSandbox(sb, {
          branch: 'b',
          message: 'm',
          identity: { name: 'n', email: 'n@x' },
          at: 0,
          bundle: false,
        })
      ).tree,
    );
    for (const f of fs.readdirSync(sb.dir)) if (f.startsWith('workspace-git')) fs.rmSync(path.join(sb.dir, f));
    assert.equal(await workTreeOf(sb, store), undefined);
    await sb.kill();
  });

  it("git() reads neither the worker's global config, its HOME, XDG config nor GIT_* overrides", async () => {
    const home = scratchDir('home');
    fs.writeFileSync(path.join(home, '.gitconfig'), '[user]\n\tname = from-home\n');
    fs.mkdirSync(path.join(home, 'xdg', 'git'), { recursive: true });
    fs.writeFileSync(path.join(home, 'xdg', 'git', 'config'), '[user]\n\temail = from-xdg\n');
    const saved = {
      HOME: process.env.HOME,
      XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME,
      GIT_CONFIG_GLOBAL: process.env.GIT_CONFIG_GLOBAL,
    };
    Object.assign(process.env, {
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, 'xdg'),
      GIT_CONFIG_GLOBAL: path.join(home, '.gitconfig'),
    });
    try {
      assert.equal(
        execFileSync('git', ['config', '--get', 'user.name'], { encoding: 'utf8', cwd: home }).trim(),
        'from-home',
        'plain git reads it',
      );
      assert.equal(await git(['config', '--get', 'user.name'], { cwd: home }).catch(() => 'none'), 'none');
      assert.equal(await git(['config', '--get', 'user.email'], { cwd: home }).catch(() => 'none'), 'none');
      assert.equal(await git(['config', '--get', 'core.hooksPath'], { cwd: home }), '/dev/null');
      await assert.rejects(
        git(['ls-remote', 'ext::sh -c touch% /nonexistent/x']),
        /transport 'ext' not allowed|not allowed/,
      );
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
