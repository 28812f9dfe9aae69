/**
 * The e2b provider through the real SDK against the loopback fake of E2B's control plane
 * and envd: commands really run (a local sandbox underneath), files go in and out, and
 * the lifecycle is E2B's: metadata, pause on timeout, resume on connect, gone after kill.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SandboxGone } from '../../common/errors';
import { createE2BProvider, E2B_KEY_METADATA } from '../../sandbox/e2b';
import { startFakeE2B, type FakeE2B } from '../fakes/e2b-server';

describe('e2b provider at the wire (control plane and envd fakes)', () => {
  let fake: FakeE2B;
  const provider = () =>
    createE2BProvider({
      apiKey: 'e2b_wire_key',
      apiUrl: fake.url,
      sandboxUrl: fake.sandboxUrl,
      template: 'nightshift-base',
      timeoutMs: 600_000,
    });
  before(async () => {
    fake = await startFakeE2B('e2b_wire_key');
  });
  after(() => fake.close());

  it('runs commands in the workspace and moves files both ways', async () => {
    const sbx = await provider().create({
      key: 'wire/run',
      envs: { GREETING: 'hi' },
      metadata: { nightshiftTaskId: 'run' },
    });
    const made = fake.sandboxes.get(sbx.id)!;
    assert.deepEqual(made.metadata, { nightshiftTaskId: 'run', [E2B_KEY_METADATA]: 'wire/run' });
    assert.deepEqual(made.body.autoPause, true, 'onTimeout: pause');

    const r = await sbx.exec('echo "$GREETING from $(basename "$PWD")"; echo oops >&2; exit 3');
    assert.deepEqual(
      { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut },
      { exitCode: 3, stdout: 'hi from workspace\n', stderr: 'oops\n', timedOut: false },
    );

    const bytes = new Uint8Array(300_000).map((_, i) => (i * 7) % 256);
    await sbx.writeFile('sub/blob.bin', bytes);
    assert.deepEqual(Buffer.from(await sbx.readFile('sub/blob.bin')), Buffer.from(bytes));
    assert.equal(
      (await sbx.exec('wc -c < sub/blob.bin')).stdout.trim(),
      '300000',
      'the command sees what writeFile wrote',
    );
    await sbx.exec('printf made-inside > inside.txt');
    assert.equal(Buffer.from(await sbx.readFile('inside.txt')).toString(), 'made-inside');
    await assert.rejects(sbx.readFile('inside.txt', { maxBytes: 3 }), (e: NodeJS.ErrnoException) => e.code === 'EFBIG');
    await assert.rejects(sbx.readFile('missing.txt'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');

    const listed = (await sbx.list('.', { depth: 3 })).map((e) => `${e.type}:${e.path}`).sort();
    assert.deepEqual(listed, ['dir:sub', 'file:inside.txt', 'file:sub/blob.bin']);
    assert.equal(await sbx.kill(), true);
  });

  it('a command past its timeout is killed and reported as timed out', async () => {
    const sbx = await provider().create({ key: 'wire/timeout' });
    const started = Date.now();
    const r = await sbx.exec('sleep 30', { timeoutMs: 1500 });
    assert.equal(r.timedOut, true);
    assert.ok(Date.now() - started < 20_000);
    assert.ok(fake.requests.includes('RPC process.Process/SendSignal'), 'killed by pid, not only abandoned');
    const aborted = new AbortController();
    const running = sbx.exec('sleep 30', { signal: aborted.signal });
    setTimeout(() => aborted.abort(), 500);
    await assert.rejects(running);
    assert.equal(
      fake.requests.filter((q) => q === 'RPC process.Process/SendSignal').length,
      2,
      'a cancelled command is killed too',
    );
    await sbx.kill();
  });

  it('a sandbox whose timeout passed is paused, and connect (or create by key) resumes it with its files', async () => {
    const p = provider();
    const sbx = await p.create({ key: 'wire/pause' });
    await sbx.writeFile('kept.txt', 'still here');
    fake.expire(sbx.id);
    assert.equal(fake.sandboxes.get(sbx.id)!.state, 'paused');
    await assert.rejects(sbx.exec('true'), /paused/);
    const again = await p.create({ key: 'wire/pause' });
    assert.equal(again.id, sbx.id, 'found by its key although paused');
    assert.equal(fake.sandboxes.get(sbx.id)!.resumed, 1);
    assert.equal(Buffer.from(await again.readFile('kept.txt')).toString(), 'still here');
    await again.kill();
  });

  it('a deleted sandbox is SandboxGone for every operation', async () => {
    const p = provider();
    const sbx = await p.create({ key: 'wire/gone' });
    const res = await fetch(`${fake.url}/sandboxes/${sbx.id}`, {
      method: 'DELETE',
      headers: { 'x-api-key': 'e2b_wire_key' },
    });
    assert.equal(res.status, 204);
    await assert.rejects(sbx.exec('true'), SandboxGone);
    await assert.rejects(sbx.readFile('x'), SandboxGone);
    await assert.rejects(sbx.writeFile('x', 'y'), SandboxGone);
    await assert.rejects(p.connect(sbx.id), SandboxGone);
    assert.equal(await sbx.kill(), false);
  });

  it('the fake refuses what it does not serve, naming it', async () => {
    const res = await fetch(`${fake.url}/v2/templates`, { headers: { 'x-api-key': 'e2b_wire_key' } });
    assert.equal(res.status, 501);
    assert.match(await res.text(), /no route for GET \/v2\/templates/);
    const sbx = await provider().create({ key: 'wire/refuse' });
    const rpc = await fetch(`${fake.sandboxUrl}/filesystem.Filesystem/Remove`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'e2b-sandbox-id': sbx.id, 'x-access-token': `envd-${sbx.id}` },
      body: JSON.stringify({ path: '/home/user/workspace' }),
    });
    assert.equal(rpc.status, 501);
    assert.match(await rpc.text(), /RPC filesystem.Filesystem\/Remove is not implemented/);
    await assert.rejects(sbx.readFile('/etc/passwd'), /serves paths under \/home\/user only/);
    await sbx.kill();
  });
});
