/**
 * The escape suite: each attempt runs as a real command in a real local sandbox and
 * must fail with a clear result while the host stays as it was.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PolicyViolation } from '../../common/errors';
import { createLocalProvider, type LocalSandbox } from '../../sandbox/local';
import { NIGHTSHIFT_CHECKOUT } from '../../common/checkout';
import { shutdownIsolation } from '../../sandbox/os-isolation';
import { pidsCgroupBase } from '../../sandbox/resource-cgroup';
import { checkCommand, DEFAULT_SAFETY_POLICY } from '../../sandbox/policy';
import { prepareWorkspace } from '../../sandbox/workspace';
import { gitIn, makeRepo, processesMatching, tempDir } from './helpers';

const SECRETS = {
  ANTHROPIC_API_KEY: 'sk-ant-test-5ecret-1',
  GITHUB_TOKEN: 'ghp_test5ecret2',
  E2B_API_KEY: 'e2b_test5ecret3',
};

describe('local sandbox escape suite', () => {
  const root = path.join(tempDir('root'), '.nightshift', 'sandboxes');
  const provider = createLocalProvider({ root, pidsLimit: 64 });
  const outside = tempDir('outside');
  let sb: LocalSandbox;
  let repo: { repo: string; bare: string };

  before(async () => {
    Object.assign(process.env, SECRETS);
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'outside-secret\n');
    sb = (await provider.create({ key: 'escape/suite', envs: { ALLOWED_VAR: 'visible' } })) as LocalSandbox;
    repo = makeRepo();
    await prepareWorkspace(sb, { repo: repo.bare, branch: 'nightshift/escape' });
  });
  after(async () => {
    await sb.kill();
    await shutdownIsolation();
    for (const k of Object.keys(SECRETS)) delete process.env[k];
  });

  it('cannot read /root, ~/.ssh or /home of the host', async () => {
    const hostEntries = fs.readdirSync(os.homedir());
    assert.ok(hostEntries.length > 0, 'the host home must have something to hide');
    const r = await sb.exec('ls -A /root; ls -A /home; cat ~/.ssh/id_* /root/.ssh/* 2>&1; echo "home=$HOME"');
    assert.equal(r.stdout.split('\n').filter((l) => hostEntries.includes(l)).length, 0, r.stdout);
    assert.match(r.stdout, /No such file/);
    assert.match(r.stdout, new RegExp(`home=${sb.dir}/home`));
  });

  it('does not see the worker environment, only the allowlist', async () => {
    const r = await sb.exec('env; cat /proc/self/environ /proc/1/environ 2>/dev/null | tr "\\0" "\\n"');
    for (const value of Object.values(SECRETS)) assert.ok(!r.stdout.includes(value), `leaked ${value}`);
    assert.ok(!/ANTHROPIC_API_KEY|GITHUB_TOKEN|E2B_API_KEY/.test(r.stdout));
    assert.match(r.stdout, /^ALLOWED_VAR=visible$/m);
  });

  it('cannot read or write the worker files, other sandboxes or paths outside', async () => {
    const other = (await provider.create({ key: 'escape/other' })) as LocalSandbox;
    fs.writeFileSync(path.join(other.workspaceDir, 'theirs.txt'), 'other-sandbox-data');
    try {
      const r = await sb.exec(
        [
          `cat ${outside}/secret.txt`,
          `cat ${NIGHTSHIFT_CHECKOUT}/package.json`,
          `cat ${other.workspaceDir}/theirs.txt`,
          `echo pwned > ${outside}/pwned.txt`,
          `echo pwned > ${NIGHTSHIFT_CHECKOUT}/pwned-by-sandbox.txt`,
          `echo pwned > ${other.workspaceDir}/pwned.txt`,
          'echo pwned > /etc/pwned-by-sandbox',
        ].join('; '),
      );
      assert.ok(
        !r.stdout.includes('outside-secret') &&
          !r.stdout.includes('nightshift') &&
          !r.stdout.includes('other-sandbox-data'),
        r.stdout,
      );
      assert.match(r.stderr, /No such file|Read-only file system|Permission denied/);
      assert.ok(!fs.existsSync(path.join(outside, 'pwned.txt')));
      assert.ok(!fs.existsSync(path.join(NIGHTSHIFT_CHECKOUT, 'pwned-by-sandbox.txt')));
      assert.ok(!fs.existsSync(path.join(other.workspaceDir, 'pwned.txt')));
      assert.ok(!fs.existsSync('/etc/pwned-by-sandbox'));
      assert.notEqual(r.exitCode, 0);
    } finally {
      await other.kill();
    }
  });

  it('/tmp is private to each command; nothing reaches the host /tmp', async () => {
    const other = (await provider.create({ key: 'escape/scratch' })) as LocalSandbox;
    try {
      const wrote = await sb.exec(
        'mkdir -p /tmp/claude && echo scratch-secret > /tmp/claude/left-behind && cat /tmp/claude/left-behind',
      );
      assert.equal(wrote.stdout, 'scratch-secret\n', wrote.stderr);
      for (const reader of [sb, other]) {
        const r = await reader.exec('cat /tmp/claude/left-behind');
        assert.notEqual(r.exitCode, 0);
        assert.ok(!r.stdout.includes('scratch-secret'));
      }
      assert.ok(!fs.existsSync('/tmp/claude/left-behind'), 'nothing reached the host /tmp');
    } finally {
      await other.kill();
    }
  });

  it('a symlink out of the workspace leads nowhere, in exec and in the file tools', async () => {
    const r = await sb.exec(
      `ln -s ${outside} escape-link && cat escape-link/secret.txt; echo pwned > escape-link/via-link.txt`,
    );
    assert.ok(!r.stdout.includes('outside-secret'));
    assert.ok(!fs.existsSync(path.join(outside, 'via-link.txt')));
    fs.symlinkSync(outside, path.join(sb.workspaceDir, 'host-link'));
    await assert.rejects(
      sb.readFile('host-link/secret.txt'),
      (e: unknown) => e instanceof PolicyViolation && e.rule === 'no-path-outside-workspace',
    );
    await assert.rejects(sb.writeFile('host-link/new.txt', 'x'), PolicyViolation);
    await assert.rejects(sb.readFile('../../../../etc/hostname'), PolicyViolation);
    await assert.rejects(
      sb.writeFile('.git/hooks/pre-commit', '#!/bin/sh\necho hook'),
      (e: unknown) => e instanceof PolicyViolation && e.rule === 'no-git-writes',
    );
    assert.ok(!fs.existsSync(path.join(outside, 'new.txt')));
  });

  it('cannot reach a listener outside the allowlist, directly or through the proxy', async () => {
    let connections = 0;
    const server = net.createServer((s) => {
      connections++;
      s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const allowed = (await provider.create({ key: 'escape/net', network: { allow: ['example.com'] } })) as LocalSandbox;
    try {
      // Through the proxy the sandbox is given: it answers, and refuses this host.
      const viaProxy = [
        'test "$HTTP_PROXY" = http://127.0.0.1:3128 || exit 8',
        'exec 3<>/dev/tcp/127.0.0.1/3128 || exit 9',
        `printf "GET http://127.0.0.1:${port}/ HTTP/1.1\\r\\nHost: 127.0.0.1:${port}\\r\\nConnection: close\\r\\n\\r\\n" >&3`,
        'head -1 <&3',
        'exec 4<>/dev/tcp/127.0.0.1/3128 || exit 9',
        `printf "CONNECT 127.0.0.1:${port} HTTP/1.1\\r\\nHost: 127.0.0.1:${port}\\r\\n\\r\\n" >&4`,
        'head -1 <&4',
      ].join('\n');
      const direct = await allowed.exec(`exec 3<>/dev/tcp/127.0.0.1/${port} && echo CONNECTED`);
      assert.notEqual(direct.exitCode, 0);
      assert.ok(!direct.stdout.includes('CONNECTED'));
      const proxied = await allowed.exec(viaProxy);
      assert.match(proxied.stdout, /^HTTP\/1\.[01] 403[^\n]*\nHTTP\/1\.[01] 403/, proxied.stdout + proxied.stderr);
      const none = await sb.exec(`exec 3<>/dev/tcp/127.0.0.1/${port} && echo CONNECTED`);
      assert.ok(!none.stdout.includes('CONNECTED'));
      assert.equal(connections, 0);
      // A listed name that resolves to the worker's own host is refused: only a literal address may be.
      const rebound = (await provider.create({
        key: 'escape/net-rebound',
        network: { allow: ['localhost'] },
      })) as LocalSandbox;
      try {
        const r = await rebound.exec(
          [
            'exec 3<>/dev/tcp/127.0.0.1/3128 || exit 9',
            `printf "CONNECT localhost:${port} HTTP/1.1\\r\\nHost: localhost:${port}\\r\\n\\r\\n" >&3`,
            'cat <&3',
          ].join('\n'),
        );
        assert.match(
          r.stdout,
          /^HTTP\/1\.1 403 Forbidden[\s\S]*localhost resolves to (127\.0\.0\.1|::1), an address of the worker's own network/,
          r.stdout,
        );
        assert.equal(connections, 0);
      } finally {
        await rebound.kill();
      }
      // A listed host is reached through the proxy, by plain request and by tunnel.
      const listed = (await provider.create({
        key: 'escape/net-listed',
        network: { allow: ['127.0.0.1'] },
      })) as LocalSandbox;
      try {
        const ok = await listed.exec(
          [
            'exec 3<>/dev/tcp/127.0.0.1/3128 || exit 9',
            `printf "GET http://127.0.0.1:${port}/ HTTP/1.1\\r\\nHost: 127.0.0.1:${port}\\r\\nConnection: close\\r\\n\\r\\n" >&3`,
            'cat <&3; echo',
            'exec 4<>/dev/tcp/127.0.0.1/3128 || exit 9',
            `printf "CONNECT 127.0.0.1:${port} HTTP/1.1\\r\\nHost: 127.0.0.1:${port}\\r\\n\\r\\nGET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n" >&4`,
            'cat <&4',
          ].join('\n'),
        );
        assert.match(
          ok.stdout,
          /^HTTP\/1\.1 200 OK[\s\S]*ok\nHTTP\/1\.1 200 Connection Established[\s\S]*HTTP\/1\.1 200 OK[\s\S]*ok$/,
          ok.stdout + ok.stderr,
        );
        assert.equal(connections, 2);
      } finally {
        await listed.kill();
      }
    } finally {
      server.close();
      await allowed.kill();
    }
  });

  it('bounds a fork bomb and leaves the host usable', async () => {
    const started = Date.now();
    const r = await sb.exec(':(){ :|:& };: ; sleep 2; echo survived', { timeoutMs: 4000 });
    assert.ok(Date.now() - started < 20_000);
    if (pidsCgroupBase()) {
      const events = fs.readFileSync(path.join(pidsCgroupBase()!, sb.id, 'pids.events'), 'utf8');
      assert.match(events, /max [1-9]/, 'the pids limit was hit');
    }
    assert.deepEqual(processesMatching(sb.id + '/tmp'), []);
    const after = await sb.exec('echo alive');
    assert.equal(after.stdout, 'alive\n');
    assert.ok(r.exitCode !== 0 || r.stdout.includes('survived'));
  });

  it('caps 1 GB of output while streaming it', async () => {
    let streamed = 0;
    const r = await sb.exec('head -c 1073741824 /dev/zero | tr "\\0" a', {
      onOutput: (c) => (streamed += c.length),
      timeoutMs: 60_000,
    });
    assert.equal(r.exitCode, 0);
    assert.equal(streamed, 1073741824);
    assert.ok(r.stdout.length < 1024 * 1024 + 200, `kept ${r.stdout.length}`);
    assert.match(r.stdout, /output cut: \d+ of 1073741824 bytes/);
  });

  it('kills the whole process tree of a command past its timeout', async () => {
    const marker = '1000.4242';
    const started = Date.now();
    const r = await sb.exec(`sleep ${marker} & (sleep ${marker} &) ; sleep ${marker}`, { timeoutMs: 400 });
    assert.equal(r.timedOut, true);
    assert.ok(Date.now() - started < 5000);
    assert.match(r.stderr, /killed after 400 ms/);
    await new Promise((res) => setTimeout(res, 200));
    assert.deepEqual(processesMatching(`sleep ${marker}`), []);
  });

  it('the command after a timed-out one runs whole: the timeout kill never reaches it', async () => {
    // The kill after a timeout empties the sandbox's cgroup; a command started as soon as
    // the timed-out one returns must not be caught by it. Several rounds, as it was a race.
    for (let round = 0; round < 5; round++) {
      const killed = await sb.exec('sleep 1000.6161 & sleep 1000.6161', { timeoutMs: 150 });
      assert.equal(killed.timedOut, true);
      const next = await sb.exec('sleep 0.3; echo next-ran');
      assert.equal(next.exitCode, 0, `round ${round}: ${next.stderr}`);
      assert.equal(next.stdout, 'next-ran\n');
    }
    assert.deepEqual(processesMatching('sleep 1000.6161'), []);
  });

  it('an abort signal stops the command', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    await assert.rejects(sb.exec('sleep 1000.5151', { signal: ac.signal }));
    await new Promise((res) => setTimeout(res, 100));
    assert.deepEqual(processesMatching('sleep 1000.5151'), []);
  });

  it('git commit and git push are refused by the policy and fail in the sandbox', async () => {
    const head = gitIn(sb.workspaceDir, 'rev-parse', 'HEAD');
    const remoteHead = gitIn(repo.bare, 'rev-parse', 'main');
    for (const cmd of ['git commit -am x', 'git push origin HEAD', 'FOO=1 sh -c "cd . && git -C . add -A"']) {
      assert.throws(() => checkCommand(cmd, DEFAULT_SAFETY_POLICY, sb.workspaceDir), PolicyViolation);
    }
    // Past the policy (an obfuscated command): the OS layer still refuses.
    const r = await sb.exec(
      'echo change >> README.md; g=git; $g add -A; $g -c user.name=a -c user.email=b commit -qm sneaky; $g push -q origin HEAD:main',
    );
    assert.notEqual(r.exitCode, 0);
    assert.match(r.stderr, /Read-only file system|Unable to create|unable to/i);
    assert.equal(gitIn(sb.workspaceDir, 'rev-parse', 'HEAD'), head);
    assert.equal(gitIn(repo.bare, 'rev-parse', 'main'), remoteHead);
  });

  it('rm -rf / and friends are refused, and deleting outside fails in the sandbox', async () => {
    for (const cmd of ['rm -rf /', 'rm -rf ..', 'rm -rf .', `rm -rf ${outside}`]) {
      assert.throws(
        () => checkCommand(cmd, DEFAULT_SAFETY_POLICY, sb.workspaceDir),
        (e: unknown) => e instanceof PolicyViolation && e.rule === 'no-delete-outside-workspace',
      );
    }
    // Inside, those paths are hidden or read-only, so rm finds nothing it may delete.
    await sb.exec(`rm -rf ${outside} ${NIGHTSHIFT_CHECKOUT}/package.json /etc/hostname`);
    assert.ok(fs.existsSync('/etc/hostname'));
    assert.ok(fs.existsSync(path.join(outside, 'secret.txt')));
    assert.ok(fs.existsSync(path.join(NIGHTSHIFT_CHECKOUT, 'package.json')));
  });

  it('npx prisma migrate deploy is refused', () => {
    assert.throws(
      () => checkCommand('npx prisma migrate deploy', DEFAULT_SAFETY_POLICY, sb.workspaceDir),
      (e: unknown) =>
        e instanceof PolicyViolation && e.rule === 'no-db-migrations' && e.command === 'npx prisma migrate deploy',
    );
  });

  it('returns a non-zero exit code as data', async () => {
    const r = await sb.exec('echo out; echo err >&2; exit 3');
    assert.deepEqual(r, { exitCode: 3, stdout: 'out\n', stderr: 'err\n', timedOut: false });
  });
});
