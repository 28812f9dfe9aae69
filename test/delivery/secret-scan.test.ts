/**
 * The scan before a push, on a real repository: tokens inside long minified lines and
 * binary files are found and named by file and kind, a file that only removes a token is
 * not blamed, and a diff past the cap counts as unscannable.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { scanCommitForSecrets, secretScanReason } from '../../activities/delivery/secret-scan';
import { Redactor } from '../../common/redact';
import { scratchDir } from '../helpers/outside-tmp';

const TOKEN = 'ghp_' + 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8';
const WORKER_SECRET = 'worker-only-value-7a3f9c';

function repoWithCommits(): { dir: string; first: string; second: string } {
  const dir = scratchDir('secret-scan');
  const g = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@x', ...args], { cwd: dir, encoding: 'utf8' }).trim();
  g('init', '--quiet', '-b', 'main');
  fs.writeFileSync(path.join(dir, 'old.txt'), `token=${TOKEN}\n`);
  g('add', '.');
  g('commit', '--quiet', '-m', 'one');
  const first = g('rev-parse', 'HEAD');
  fs.writeFileSync(path.join(dir, 'old.txt'), 'token removed\n');
  fs.writeFileSync(path.join(dir, 'bundle.min.js'), `var a="${'x'.repeat(300_000)}",t="${TOKEN}",b="${'y'.repeat(300_000)}";`);
  fs.writeFileSync(path.join(dir, 'blob.bin'), Buffer.concat([Buffer.from([0, 1, 2, 0]), Buffer.from(WORKER_SECRET), Buffer.from([0, 255])]));
  fs.writeFileSync(path.join(dir, 'clean.md'), 'nothing here\n');
  g('add', '.');
  g('commit', '--quiet', '-m', 'two');
  return { dir: path.join(dir, '.git'), first, second: g('rev-parse', 'HEAD') };
}

describe('scanning a commit for secrets before the push', () => {
  const { dir, first, second } = repoWithCommits();
  const redactor = new Redactor({ NIGHTSHIFT_DEPLOY_SECRET: WORKER_SECRET });

  it('names each file that adds a secret, with its kinds, and no other', async () => {
    const scan = await scanCommitForSecrets(dir, second, redactor);
    assert.equal(scan.clean, false);
    if (scan.clean) return;
    const byFile = Object.fromEntries(scan.hits.map((h) => [h.file, h.kinds]));
    assert.deepEqual(Object.keys(byFile).sort(), ['blob.bin', 'bundle.min.js']);
    assert.deepEqual(byFile['bundle.min.js'], ['GitHub token']);
    assert.deepEqual(byFile['blob.bin'], ['NIGHTSHIFT_DEPLOY_SECRET']);
    const reason = secretScanReason(scan);
    assert.ok(!reason.includes(TOKEN) && !reason.includes(WORKER_SECRET), reason);
    assert.match(reason, /bundle\.min\.js \(GitHub token\)/);
  });

  it('a root commit that adds a token is found too; a clean commit is clean', async () => {
    const scan = await scanCommitForSecrets(dir, first, redactor);
    assert.deepEqual(scan, { clean: false, hits: [{ file: 'old.txt', kinds: ['GitHub token'] }] });
    const clean = await scanCommitForSecrets(dir, second, new Redactor({}), { maxBytes: 64 * 1024 * 1024 });
    assert.equal(clean.clean, false, 'the token shape is found without any worker secret');
  });

  it('a diff past the cap is not scannable, so not clean', async () => {
    const scan = await scanCommitForSecrets(dir, second, redactor, { maxBytes: 100_000 });
    assert.equal(scan.clean, false);
    assert.equal(!scan.clean && scan.tooLarge, true);
    assert.match(secretScanReason(scan as Exclude<typeof scan, { clean: true }>), /could not all be scanned/);
  });
});
