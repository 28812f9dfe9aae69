/**
 * An attacker's pass over the boundary, through the functions the worker really uses: the
 * tools, checkpoints and restore, keepWork and the delivery commit. The agent plants
 * something in one call and the worker meets it in a later one. Each attack names a
 * marker the host must never hold afterwards, or a host file that must stay as it was.
 * Scratch space is outside /tmp, as a real NIGHTSHIFT_ROOT would be.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAgentActivities } from '../../activities/task/sandbox-steps';
import { commitInSandbox, workTreeOf } from '../../activities/task/delivery/sandbox-commit';
import { executeTool, type ToolContext } from '../../activities/task/tools';
import { FileTranscriptStore } from '../../activities/task/transcripts';
import { createLocalProvider, shutdownIsolation, type LocalSandbox } from '../../sandbox/local';
import { DEFAULT_SAFETY_POLICY } from '../../sandbox/policy';
import { routeSandboxes } from '../../sandbox/router';
import { checkpoint, checkpointRef, git, prepareWorkspace, restore } from '../../sandbox/workspace';
import { scratchDir } from '../helpers/outside-tmp';
import { makeRepo, processesMatching } from './helpers';

const WORKER_SECRET = 'nsk_attack_worker_5ecret_value';

/** A config whose every program hook appends to `marker` when git runs it. */
function hostileConfig(marker: string): string {
  const run = `"sh -c 'echo ran >> ${marker}; cat'"`;
  return [
    '[core]',
    '\trepositoryformatversion = 0',
    `\tfsmonitor = ${run}`,
    `\tsshCommand = ${run}`,
    `\tpager = ${run}`,
    '\thooksPath = hooks',
    '[filter "evil"]',
    `\tclean = ${run}`,
    `\tsmudge = ${run}`,
    '\trequired = true',
    '[diff "evil"]',
    `\ttextconv = ${run}`,
    `\tcommand = ${run}`,
    '[merge "evil"]',
    `\tdriver = ${run}`,
    '',
  ].join('\n');
}

describe('attacks on the boundary through the worker’s own functions (root outside /tmp)', () => {
  const root = scratchDir('attacks');
  const provider = createLocalProvider({ root: path.join(root, '.nightshift', 'sandboxes') });
  const store = path.join(root, '.nightshift', 'checkpoints.git');
  const marker = path.join(root, 'PWNED');
  const hostFile = path.join(root, 'host-file.txt');
  const hostDir = path.join(root, 'host-dir');
  const config = { root };
  const transcripts = new FileTranscriptStore({ dir: path.join(root, 'transcripts') });
  const acts = createAgentActivities({ config, sandboxes: routeSandboxes({ local: provider }), transcripts });
  const keepWork = (sandboxId: string, workflowId: string) =>
    new MockActivityEnvironment().run(acts.keepWork, { workflowId, sandboxId }) as ReturnType<typeof acts.keepWork>;
  let repoLess: LocalSandbox;
  let withRepo: LocalSandbox;
  let neighbour: LocalSandbox;
  let ctx: ToolContext;
  let repoCtx: ToolContext;
  const savedSecret = process.env.NIGHTSHIFT_ATTACK_SECRET;

  const assertHostUnharmed = () => {
    assert.ok(
      !fs.existsSync(marker),
      `host code ran the agent's program: ${fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8') : ''}`,
    );
    assert.equal(fs.readFileSync(hostFile, 'utf8'), 'host data\n');
    assert.deepEqual(fs.readdirSync(hostDir), ['keep.txt']);
  };
  const bash = async (c: ToolContext, command: string) => {
    const r = await executeTool('bash', { command }, c);
    return r.content;
  };
  /** A tool call as runTool sees it: an error result, or a thrown refusal (a policy violation halts the task). */
  const tool = (name: string, input: Record<string, unknown>, c: ToolContext) =>
    executeTool(name, input, c).catch((err: Error) => ({ isError: true, content: `${err.name}: ${err.message}` }));

  before(async () => {
    // As a NIGHTSHIFT_ROOT usually is: open to other users of the host (mkdtemp made it private).
    fs.chmodSync(root, 0o755);
    process.env.NIGHTSHIFT_ATTACK_SECRET = WORKER_SECRET;
    fs.writeFileSync(hostFile, 'host data\n');
    fs.mkdirSync(hostDir);
    fs.writeFileSync(path.join(hostDir, 'keep.txt'), 'keep\n');
    repoLess = (await provider.create({ key: 'attacks/repo-less' })) as LocalSandbox;
    withRepo = (await provider.create({ key: 'attacks/with-repo' })) as LocalSandbox;
    neighbour = (await provider.create({ key: 'attacks/neighbour' })) as LocalSandbox;
    fs.writeFileSync(path.join(neighbour.workspaceDir, 'theirs.txt'), 'neighbour-data\n');
    const { bare } = makeRepo();
    await prepareWorkspace(withRepo, { repo: bare, branch: 'nightshift/attacks' });
    ctx = { sandbox: repoLess, workspaceRoot: repoLess.workspaceDir, policy: DEFAULT_SAFETY_POLICY };
    repoCtx = { sandbox: withRepo, workspaceRoot: withRepo.workspaceDir, policy: DEFAULT_SAFETY_POLICY };
  });
  after(async () => {
    if (savedSecret === undefined) delete process.env.NIGHTSHIFT_ATTACK_SECRET;
    else process.env.NIGHTSHIFT_ATTACK_SECRET = savedSecret;
    await repoLess?.kill();
    await withRepo?.kill();
    await neighbour?.kill();
    await shutdownIsolation();
  });

  it('symlinks planted in one call are never followed by host code in a later one', { timeout: 120_000 }, async () => {
    await bash(
      ctx,
      [
        `ln -s ${hostFile} notes.md`,
        `ln -s ${hostDir} linked-dir`,
        'mkdir -p deep',
        `ln -s ${hostDir} deep/inner`,
        `ln -s ${store} store-link`,
        `ln -s ${marker} marker-link`,
      ].join('; '),
    );
    const read = await tool('read_file', { path: 'notes.md' }, ctx);
    assert.equal(read.isError, true);
    assert.ok(!read.content.includes('host data'), read.content);
    for (const p of [
      'linked-dir/pwn.txt',
      'deep/inner/pwn.txt',
      'marker-link',
      'store-link/HEAD',
      `${hostDir}/pwn.txt`,
    ]) {
      const w = await tool('write_file', { path: p, content: 'pwned\n' }, ctx);
      assert.equal(w.isError, true, `write_file ${p} succeeded`);
    }
    const edit = await tool('edit_file', { path: 'notes.md', old_text: 'host', new_text: 'pwned' }, ctx);
    assert.equal(edit.isError, true);
    const search = await tool('search', { pattern: 'host data', path: 'linked-dir' }, ctx);
    assert.ok(!search.content.includes('keep'), search.content);
    // The host follows the links neither when it snapshots, nor when it keeps the work.
    await checkpoint(repoLess, store, checkpointRef('attacks/symlinks'));
    const kept = await keepWork(repoLess.id, 'attacks/symlinks');
    for (const f of fs.readdirSync(kept.workDir, { recursive: true }) as string[]) {
      const st = fs.lstatSync(path.join(kept.workDir, f));
      assert.ok(st.isFile() || st.isDirectory(), `keepWork copied a ${f} that is neither file nor directory`);
      if (st.isFile())
        assert.ok(
          !fs.readFileSync(path.join(kept.workDir, f), 'utf8').includes('host data'),
          `keepWork copied host data into ${f}`,
        );
    }
    // A restore writes the links back into the workspace, never through them.
    const fresh = (await provider.create({ key: 'attacks/symlinks-restored' })) as LocalSandbox;
    try {
      await restore(fresh, store, checkpointRef('attacks/symlinks'));
      assert.ok(fs.lstatSync(path.join(fresh.workspaceDir, 'linked-dir')).isSymbolicLink());
    } finally {
      await fresh.kill();
    }
    assertHostUnharmed();
  });

  it('hardlinks to files outside the workspace cannot be made, so writes never reach them', async () => {
    const out = await bash(
      repoCtx,
      [
        'ln /etc/hostname hn 2>&1; echo "hn=$?"',
        'ln .git/config cfg 2>&1; echo "cfg=$?"',
        'ln /usr/bin/env envlink 2>&1; echo "env=$?"',
      ].join('; '),
    );
    for (const name of ['hn', 'cfg', 'env']) assert.doesNotMatch(out, new RegExp(`${name}=0`), out);
    const before = fs.readFileSync(path.join(withRepo.workspaceDir, '.git', 'config'), 'utf8');
    const w = await executeTool('write_file', { path: 'cfg', content: '[core]\n\tfsmonitor = x\n' }, repoCtx);
    assert.equal(w.isError, false);
    assert.equal(fs.readFileSync(path.join(withRepo.workspaceDir, '.git', 'config'), 'utf8'), before);
    await bash(repoCtx, 'rm -f cfg');
  });

  it(
    'a .git the agent plants (file with gitdir:, symlink, directory) is never the worker’s',
    { timeout: 120_000 },
    async () => {
      const hostRepo = path.join(root, 'host-repo');
      fs.mkdirSync(hostRepo);
      execFileSync('git', ['init', '--quiet', hostRepo]);
      fs.writeFileSync(path.join(hostRepo, '.git', 'config'), hostileConfig(marker));
      // Each call can only try: .git is a read-only mount point while a command runs.
      const out = await bash(
        ctx,
        [
          `rm -rf .git 2>&1; printf 'gitdir: ${hostRepo}/.git\\n' > .git 2>&1; echo "file=$?"`,
          `ln -sfn ${hostRepo}/.git .git 2>&1; echo "link=$?"`,
          'mkdir -p .git/hooks 2>&1; echo "dir=$?"',
          'printf "* filter=evil diff=evil merge=evil\\n" > .gitattributes',
          // Nested repositories: a .git file pointing at a host repository, a .git directory of the agent's own.
          `mkdir -p sub1 sub2/.git/refs sub2/.git/objects; printf 'gitdir: ${hostRepo}/.git\\n' > sub1/.git; echo x > sub1/f`,
          `printf '%s' '${hostileConfig(marker).replace(/'/g, `'\\''`)}' > sub2/.git/config; echo 'ref: refs/heads/main' > sub2/.git/HEAD; echo x > sub2/f`,
          'printf "* filter=evil\\n" > sub2/.gitattributes',
          `printf '[submodule "s"]\\n\\tpath = sub2\\n\\turl = --upload-pack=touch ${marker}\\n\\tupdate = !touch ${marker}\\n' > .gitmodules`,
        ].join('\n'),
      );
      assert.doesNotMatch(out, /file=0|link=0|dir=0/, out);
      const store2 = path.join(root, 'store-plant');
      // The checkpoint may refuse the empty nested repository; it must not run anything.
      await checkpoint(repoLess, store2, checkpointRef('attacks/plant')).catch(() => undefined);
      await bash(ctx, 'rm -rf sub1');
      await checkpoint(repoLess, store2, checkpointRef('attacks/plant'));
      await keepWork(repoLess.id, 'attacks/plant');
      const fresh = (await provider.create({ key: 'attacks/plant-restored' })) as LocalSandbox;
      try {
        await restore(fresh, store2, checkpointRef('attacks/plant'));
      } finally {
        await fresh.kill();
      }
      // In a repository task the same plants meet the worker's clone, its checkpoint and the delivery commit.
      await bash(
        repoCtx,
        [
          'printf "* filter=evil diff=evil merge=evil\\n" > .gitattributes',
          'mkdir -p sub2/.git/refs sub2/.git/objects; echo "ref: refs/heads/main" > sub2/.git/HEAD; echo x > sub2/f',
          `printf '%s' '${hostileConfig(marker).replace(/'/g, `'\\''`)}' > sub2/.git/config`,
          'mkdir -p a/b; printf "* filter=evil\\n" > a/b/.gitattributes; echo data > a/b/file',
        ].join('\n'),
      );
      await checkpoint(withRepo, store, checkpointRef('attacks/plant-repo'));
      await git(['status', '--porcelain'], { cwd: withRepo.workspaceDir });
      await git(['diff', 'HEAD', '--stat'], { cwd: withRepo.workspaceDir });
      // An empty nested repository is left out by both sides alike: what is checked is what is delivered.
      const checked = await workTreeOf(withRepo, store);
      const delivered = await commitInSandbox(withRepo, {
        branch: 'nightshift/attacks',
        message: 'attack',
        identity: { name: 'n', email: 'n@x' },
        at: Date.now(),
        bundle: true,
        expectTree: checked,
      });
      assert.equal(delivered.tree, checked);
      assert.ok(delivered.files.includes('a/b/file'), delivered.files.join('|'));
      await bash(repoCtx, 'rm -rf sub2 a .gitattributes');
      assertHostUnharmed();
    },
  );

  it(
    'a nested repository whose HEAD is a FIFO does not hang the worker’s checkpoint',
    { timeout: 120_000 },
    async () => {
      await bash(ctx, 'mkdir -p nest/.git/refs nest/.git/objects && mkfifo nest/.git/HEAD && echo x > nest/f');
      const started = Date.now();
      await assert.rejects(
        checkpoint(repoLess, store, checkpointRef('attacks/fifo-head'), 'fifo', { timeoutMs: 3000 }),
        /killed after 3000 ms/,
      );
      await keepWork(repoLess.id, 'attacks/fifo-head');
      assert.ok(Date.now() - started < 60_000, 'the checkpoint waited for a FIFO writer');
      // The killed git is gone, not left blocked on the FIFO.
      assert.deepEqual(
        processesMatching(repoLess.workspaceDir).filter(
          (pid) => fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'git',
        ),
        [],
      );
      await bash(ctx, 'rm -rf nest');
      assertHostUnharmed();
    },
  );

  it(
    'file names shaped like options or like the delivery script’s own output change nothing',
    { timeout: 120_000 },
    async () => {
      await bash(
        repoCtx,
        [
          `touch -- '--upload-pack=touch ${marker}' '-rf' '--exec=touch ${marker}' '--output=${hostFile}'`,
          `touch "$(printf 'x\\nEMPTY')" "$(printf 'y\\nTREE_CHANGED')" "$(printf 'z\\nCOMMIT 0000000000000000000000000000000000000000')"`,
          'echo change >> README.md',
        ].join('; '),
      );
      const search = await executeTool('search', { pattern: `--pre=touch ${marker}` }, repoCtx);
      assert.ok(!search.isError || !/unrecognized|unknown/.test(search.content), search.content);
      const search2 = await tool('search', { pattern: 'x', path: `--pre=touch ${marker}` }, repoCtx);
      assert.ok(search2.content !== undefined);
      await checkpoint(withRepo, store, checkpointRef('attacks/names'));
      await keepWork(withRepo.id, 'attacks/names');
      const c = await commitInSandbox(withRepo, {
        branch: 'nightshift/attacks',
        message: 'names',
        identity: { name: 'n', email: 'n@x' },
        at: Date.now(),
        bundle: true,
      });
      assert.ok(c.commit, 'a file named like the script’s EMPTY line hid the work');
      assert.notEqual(c.commit, '0000000000000000000000000000000000000000');
      assert.equal(
        await git([
          '--git-dir',
          path.join(withRepo.workspaceDir, '.git'),
          'rev-parse',
          '--verify',
          '--quiet',
          `${c.base}^{commit}`,
        ]),
        c.base,
      );
      assert.ok(c.files.includes('README.md'), c.files.join('|'));
      await bash(repoCtx, 'git checkout -- README.md 2>/dev/null; rm -f -- ./-* ./x* ./y* ./z*').catch(() => undefined);
      assertHostUnharmed();
    },
  );

  it(
    'deep trees, long names and many files stay within keepWork’s caps and never fail it',
    { timeout: 180_000 },
    async () => {
      const long = 'd'.repeat(250);
      await bash(
        ctx,
        [
          `p=deep; for i in $(seq 1 30); do p="$p/${long}"; done; mkdir -p "$p" 2>/dev/null; echo deep > "$p/f" 2>/dev/null; true`,
          'mkdir many && cd many && seq 1 3000 | xargs touch',
        ].join('\n'),
      );
      const kept = await keepWork(repoLess.id, 'attacks/many');
      assert.ok(kept.files >= 3000, `kept ${kept.files}`);
      const listed = await repoLess.list('.', { depth: 64, maxEntries: 100 });
      assert.equal(listed.length, 100);
      await bash(ctx, 'rm -rf deep many');
      assertHostUnharmed();
    },
  );

  it('nothing of the worker’s process or environment is reachable through /proc', async () => {
    const out = await bash(
      ctx,
      [
        'cat /proc/$PPID/environ /proc/1/environ /proc/*/environ 2>/dev/null | tr "\\0" "\\n"',
        'for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null; echo; done',
        'ls /proc/1/root/ 2>&1',
        'cat /proc/self/root/../../etc/shadow 2>&1',
        `echo '|/bin/touch ${marker}' > /proc/sys/kernel/core_pattern 2>&1; echo "core=$?"`,
        'echo 1 > /proc/sys/kernel/sysrq 2>&1; echo "sysrq=$?"',
      ].join('\n'),
    );
    assert.ok(!out.includes(WORKER_SECRET), 'the worker’s environment leaked');
    assert.doesNotMatch(out, /core=0|sysrq=0/, out);
    assert.doesNotMatch(out, /\bnode\b.*--test|temporal/, 'a host process is visible');
    assert.doesNotMatch(fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8'), /touch/);
    // ptrace reaches only the command's own processes: the worker is not there to attach to.
    const trace = await bash(
      ctx,
      `python3 -c "import ctypes; l=ctypes.CDLL(None,use_errno=True); print('attach', l.ptrace(16, ${process.pid}, 0, 0), ctypes.get_errno())" 2>&1`,
    );
    assert.match(trace, /attach -1 3\b/, trace);
    assertHostUnharmed();
  });

  it('unix sockets of the host (abstract or on disk) are out of reach', async () => {
    const name = `nightshift-attack-${process.pid}`;
    let connected = 0;
    const server = net.createServer((s) => {
      connected++;
      s.end('host socket\n');
    });
    await new Promise<void>((resolve) => server.listen(`\0${name}`, resolve));
    const onDisk = path.join(root, 'host.sock');
    const server2 = net.createServer((s) => {
      connected++;
      s.end('host socket\n');
    });
    await new Promise<void>((resolve) => server2.listen(onDisk, resolve));
    try {
      const out = await bash(
        ctx,
        [
          `python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.connect('\\0${name}'); print(s.recv(100))" 2>&1 | tail -1`,
          `python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.connect('${onDisk}'); print(s.recv(100))" 2>&1 | tail -1`,
          'ls -la /run /var/run 2>&1',
        ].join('\n'),
      );
      assert.ok(!out.includes('host socket'), out);
      assert.equal(connected, 0);
    } finally {
      server.close();
      server2.close();
    }
  });

  it(
    'symlink loops and unix sockets in the workspace neither hang nor fail the worker’s reads, copies and checkpoints',
    { timeout: 120_000 },
    async () => {
      const shm = `/dev/shm/nightshift-attack-${process.pid}`;
      fs.writeFileSync(shm, 'host shm data\n');
      try {
        const out = await bash(
          ctx,
          [
            'ln -s loop-a loop-b; ln -s loop-b loop-a; mkdir -p d; ln -s ../d d/self',
            `python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind('sock')"`,
            `cat ${shm} 2>&1; echo "shm: $(ls /dev/shm 2>&1)"`,
            `ls -A ${repoLess.dir} 2>&1`,
          ].join('\n'),
        );
        assert.ok(!out.includes('host shm data'), out);
        assert.match(out, /^shm: $/m, 'the host’s /dev/shm is not the sandbox’s');
        assert.ok(!out.includes('meta.json') && !out.includes('seccomp.bpf'), out);
        for (const p of ['loop-a', 'd/self/self/self', 'sock']) {
          const r = await tool('read_file', { path: p }, ctx);
          assert.equal(r.isError, true, p);
        }
        const w = await tool('write_file', { path: 'loop-a', content: 'x' }, ctx);
        assert.equal(w.isError, true);
        await checkpoint(repoLess, store, checkpointRef('attacks/loops'));
        const kept = await keepWork(repoLess.id, 'attacks/loops');
        assert.ok(!fs.existsSync(path.join(kept.workDir, 'sock')));
        await bash(ctx, 'rm -rf loop-a loop-b d sock');
      } finally {
        fs.rmSync(shm, { force: true });
      }
      assertHostUnharmed();
    },
  );

  it(
    'a setuid program or a device node the agent makes is no way in for another host user',
    { timeout: 60_000 },
    async () => {
      const out = await bash(
        ctx,
        'cp /usr/bin/id suid-id && chmod 4755 suid-id && ls -l suid-id; mknod dev-mem c 1 1 2>&1; echo "mknod=$?"; ls /dev/loop* 2>&1',
      );
      assert.doesNotMatch(out, /mknod=0/, out);
      assert.doesNotMatch(out, /\/dev\/loop\d/, out);
      // Another user of the host cannot reach the workspace at all, so not the setuid file either.
      // Through sh: setpriv's own exec of a path still walks it with root's rights.
      const asNobody = spawnSync(
        'setpriv',
        [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          'sh',
          '-c',
          'exec "$0" -u',
          path.join(repoLess.workspaceDir, 'suid-id'),
        ],
        { encoding: 'utf8' },
      );
      assert.notEqual(asNobody.stdout.trim(), '0', 'a host user became root through the agent’s setuid file');
      assert.notEqual(asNobody.status, 0);
      const listing = spawnSync(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', 'ls "$0"', repoLess.workspaceDir],
        { encoding: 'utf8' },
      );
      assert.notEqual(listing.status, 0, listing.stdout);
      await bash(ctx, 'rm -f suid-id');
    },
  );

  it('the checkpoint store, other sandboxes and the sandbox’s own metadata are out of reach', async () => {
    await checkpoint(repoLess, store, checkpointRef('attacks/store'));
    const refsBefore = execFileSync('git', ['--git-dir', store, 'for-each-ref'], { encoding: 'utf8' });
    const out = await bash(
      ctx,
      [
        `ls ${store} 2>&1; echo x > ${store}/refs/nightshift/pwn 2>&1`,
        `cat ${neighbour.workspaceDir}/theirs.txt 2>&1`,
        `cat ${repoLess.dir}/meta.json 2>&1; echo '{}' > ${repoLess.dir}/meta.json 2>&1`,
        `cat ${root}/transcripts/* 2>&1`,
        'cat /proc/*/cwd/theirs.txt 2>&1',
      ].join('\n'),
    );
    assert.ok(!out.includes('neighbour-data'), out);
    assert.ok(!out.includes('"key"'), out);
    assert.equal(execFileSync('git', ['--git-dir', store, 'for-each-ref'], { encoding: 'utf8' }), refsBefore);
    assert.equal(JSON.parse(fs.readFileSync(path.join(repoLess.dir, 'meta.json'), 'utf8')).key, 'attacks/repo-less');
    // The tools refuse the same paths before anything runs.
    for (const p of [`${neighbour.workspaceDir}/theirs.txt`, `${store}/HEAD`, '../meta.json', '../../../.env']) {
      const r = await tool('read_file', { path: p }, ctx);
      assert.equal(r.isError, true, p);
      assert.ok(!r.content.includes('neighbour-data'));
    }
    assertHostUnharmed();
  });
});
