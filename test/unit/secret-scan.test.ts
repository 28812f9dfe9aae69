/**
 * The scan before a push, on a real repository: tokens inside long minified lines and
 * binary files are found and named by file and kind, a file that only removes a token is
 * not blamed, a diff past the cap counts as unscannable, and the range is everything the
 * push would send (earlier commits, messages, file names) less what the remote holds.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import {
  COMMIT_TEXT,
  scanCommitForSecrets,
  secretScanReason,
  type CommitScan,
} from '../../activities/task/delivery/secret-scan';
import { Redactor } from '../../common/redact';
import { scratchDir } from '../helpers/outside-tmp';

const TOKEN = 'ghp_' + 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8';
const WORKER_SECRET = 'worker-only-value-7a3f9c';

function newRepo(prefix: string) {
  const dir = scratchDir(prefix);
  const g = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@x', ...args], {
      cwd: dir,
      encoding: 'utf8',
      maxBuffer: 1024 * 1024,
    }).trim();
  g('init', '--quiet', '-b', 'main');
  const commit = (files: Record<string, string | Buffer | null>, msg = 'change') => {
    for (const [name, content] of Object.entries(files)) {
      const file = path.join(dir, name);
      if (content === null) fs.rmSync(file);
      else {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, content);
      }
    }
    g('add', '-A');
    g('commit', '--quiet', '--allow-empty', '-m', msg);
    return g('rev-parse', 'HEAD');
  };
  return { gitDir: path.join(dir, '.git'), commit };
}

const byFile = (scan: CommitScan) => (scan.clean ? {} : Object.fromEntries(scan.hits.map((h) => [h.file, h.kinds])));

describe('scanning a push for secrets', () => {
  const repo = newRepo('secret-scan');
  const first = repo.commit({ 'old.txt': `token=${TOKEN}\n` }, 'one');
  const second = repo.commit(
    {
      'old.txt': 'token removed\n',
      'bundle.min.js': `var a="${'x'.repeat(300_000)}",t="${TOKEN}",b="${'y'.repeat(300_000)}";`,
      'blob.bin': Buffer.concat([Buffer.from([0, 1, 2, 0]), Buffer.from(WORKER_SECRET), Buffer.from([0, 255])]),
      'clean.md': 'nothing here\n',
    },
    'two',
  );
  const redactor = new Redactor({ NIGHTSHIFT_DEPLOY_SECRET: WORKER_SECRET });

  it('names each file that adds a secret, with its kinds, and no other', async () => {
    const scan = await scanCommitForSecrets(repo.gitDir, second, redactor, { remoteHas: [first] });
    assert.equal(scan.clean, false);
    assert.deepEqual(byFile(scan), { 'bundle.min.js': ['GitHub token'], 'blob.bin': ['NIGHTSHIFT_DEPLOY_SECRET'] });
    const reason = secretScanReason(scan as Exclude<CommitScan, { clean: true }>);
    assert.ok(!reason.includes(TOKEN) && !reason.includes(WORKER_SECRET), reason);
    assert.match(reason, /bundle\.min\.js \(GitHub token\)/);
    assert.match(reason, /refused to push/);
  });

  it('a commit the remote lacks is scanned with its history: a token added and removed again is still sent', async () => {
    const scan = await scanCommitForSecrets(repo.gitDir, second, redactor);
    assert.deepEqual(byFile(scan)['old.txt'], ['GitHub token']);
  });

  it('what the remote already holds is not scanned; a tip this repository lacks is ignored', async () => {
    const missing = 'f'.repeat(40);
    const third = repo.commit({ 'clean.md': 'still nothing\n' }, 'three');
    assert.deepEqual(await scanCommitForSecrets(repo.gitDir, third, redactor, { remoteHas: [missing, second] }), {
      clean: true,
    });
    // The token shape is found without any worker secret.
    assert.equal(
      (await scanCommitForSecrets(repo.gitDir, second, new Redactor({}), { remoteHas: [first] })).clean,
      false,
    );
  });

  it('a diff past the cap is not scannable, so not clean', async () => {
    const scan = await scanCommitForSecrets(repo.gitDir, second, redactor, { maxBytes: 100_000, remoteHas: [first] });
    assert.equal(scan.clean, false);
    assert.equal(!scan.clean && scan.tooLarge, true);
    assert.match(secretScanReason(scan as Exclude<CommitScan, { clean: true }>), /could not all be scanned/);
  });
});

describe('what the diff hides a secret in', () => {
  const redactor = new Redactor({ GITHUB_TOKEN: WORKER_SECRET });

  it('an added line that reads like a file header (`++ x` is `+++ x` in the diff) is content', async () => {
    const repo = newRepo('secret-header');
    const base = repo.commit({ 'a.txt': 'a\n' });
    const head = repo.commit({ 'notes.txt': `intro\n++ ${WORKER_SECRET}\n+++ b/${TOKEN}\n@@ -1 +1 @@\n` });
    const scan = await scanCommitForSecrets(repo.gitDir, head, redactor, { remoteHas: [base] });
    assert.deepEqual(byFile(scan), { 'notes.txt': ['GITHUB_TOKEN', 'GitHub token'] });
  });

  it('a commit message, an author or a file name carrying a secret is found, and the name is not shown', async () => {
    const repo = newRepo('secret-text');
    const base = repo.commit({ 'a.txt': 'a\n' });
    const named = repo.commit({ [`keys/${TOKEN}.txt`]: 'harmless\n' });
    const scan = await scanCommitForSecrets(repo.gitDir, named, redactor, { remoteHas: [base] });
    assert.deepEqual(byFile(scan), { [COMMIT_TEXT]: ['GitHub token'] });
    const messaged = repo.commit({ 'b.txt': 'b\n' }, `deploy with ${WORKER_SECRET}`);
    const scan2 = await scanCommitForSecrets(repo.gitDir, messaged, redactor, { remoteHas: [named] });
    assert.deepEqual(byFile(scan2), { [COMMIT_TEXT]: ['GITHUB_TOKEN'] });
    // A file whose content and name both hold a token is named redacted.
    const both = repo.commit({ [`c-${TOKEN}.env`]: `T=${TOKEN}\n` });
    const scan3 = await scanCommitForSecrets(repo.gitDir, both, redactor, { remoteHas: [messaged] });
    assert.ok(!JSON.stringify(scan3).includes(TOKEN), JSON.stringify(scan3));
    assert.deepEqual(byFile(scan3), {
      'c-[REDACTED: GitHub token].env': ['GitHub token'],
      [COMMIT_TEXT]: ['GitHub token'],
    });
  });

  it('deleting a large file costs nothing against the cap', async () => {
    const repo = newRepo('secret-delete');
    const base = repo.commit({ 'vendor/big.txt': 'v'.repeat(2 * 1024 * 1024) + '\n' });
    const head = repo.commit({ 'vendor/big.txt': null, 'a.txt': 'a\n' });
    assert.deepEqual(
      await scanCommitForSecrets(repo.gitDir, head, redactor, { remoteHas: [base], maxBytes: 64 * 1024 }),
      { clean: true },
    );
  });

  it('a large file is streamed: a token in the middle of a 48 MiB line is found while memory stays bounded', async () => {
    const repo = newRepo('secret-big');
    const base = repo.commit({ 'a.txt': 'a\n' });
    const half = 24 * 1024 * 1024;
    const big = Buffer.alloc(2 * half + 100, 'q');
    big.write(` ${WORKER_SECRET} `, half, 'latin1');
    // A binary file of the same size with a token among NUL bytes.
    const bin = Buffer.alloc(8 * 1024 * 1024, 0);
    bin.write(TOKEN, 5 * 1024 * 1024 + 3, 'latin1');
    const head = repo.commit({ 'dist/huge.js': big, 'img/blob.dat': bin });
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    const scan = await scanCommitForSecrets(repo.gitDir, head, redactor, { remoteHas: [base] });
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    assert.deepEqual(byFile(scan), { 'dist/huge.js': ['GITHUB_TOKEN'], 'img/blob.dat': ['GitHub token'] });
    // Streamed it grows by about 15 MiB here; reading the 48 MiB line whole grew it by over 160.
    assert.ok(
      peak - before < 64 * 1024 * 1024,
      `RSS grew by ${Math.round((peak - before) / 1024 / 1024)} MiB while scanning`,
    );
  });
});
