/**
 * The tools against a real local sandbox (no Temporal): edit_file's edge cases, output
 * truncation that keeps head and tail and states the cut, search, list_files.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { applyEdit } from '../../activities/task/tools/edit';
import { executeTool, type ToolContext } from '../../activities/task/tools';
import { truncateMiddle } from '../../activities/task/tools/truncate';
import { createLocalProvider } from '../../sandbox/local';
import { shutdownIsolation } from '../../sandbox/os-isolation';
import { DEFAULT_SAFETY_POLICY } from '../../sandbox/policy';
import type { Sandbox } from '../../sandbox/types';

let sandbox: Sandbox;
let ctx: ToolContext;
before(async () => {
  const provider = createLocalProvider({
    root: path.join(mkdtempSync(path.join(os.tmpdir(), 'nightshift-tools-')), 'sandboxes'),
  });
  sandbox = await provider.create({ key: 'tools-test' });
  ctx = {
    sandbox,
    workspaceRoot: (sandbox as unknown as { workspaceDir: string }).workspaceDir,
    policy: DEFAULT_SAFETY_POLICY,
  };
});
after(async () => {
  await sandbox?.kill();
  await shutdownIsolation();
});

test('applyEdit: one exact match is replaced; $-patterns in new_text stay literal', () => {
  assert.deepEqual(applyEdit('a\nfoo\nb\n', 'foo', 'bar $& $1'), { text: 'a\nbar $& $1\nb\n', count: 1 });
});

test('applyEdit: missing old text is an error, with a whitespace hint when only spacing differs', () => {
  const missing = applyEdit('alpha\nbeta\n', 'gamma', 'x', false, 'f.txt');
  assert.ok('error' in missing && /old_text was not found in f\.txt\. Read the file again/.test(missing.error));
  const spacing = applyEdit('if (a) {\n    b();\n}\n', 'if (a) {\n  b();', 'x');
  assert.ok('error' in spacing && /does match if whitespace is ignored/.test(spacing.error));
});

test('applyEdit: several matches are refused with their lines, unless replace_all', () => {
  const text = 'x = 1\ny = 2\nx = 1\nz\nx = 1\n';
  const r = applyEdit(text, 'x = 1', 'x = 9');
  assert.ok('error' in r);
  assert.match(r.error, /matches 3 times .*at lines 1, 3, 5/);
  assert.deepEqual(applyEdit(text, 'x = 1', 'x = 9', true), { text: 'x = 9\ny = 2\nx = 9\nz\nx = 9\n', count: 3 });
});

test('applyEdit: empty old text and no-op edits are refused', () => {
  assert.ok('error' in applyEdit('abc', '', 'x'));
  assert.ok('error' in applyEdit('abc', 'b', 'b'));
});

test('edit_file through the sandbox: edits, reports a missing file, and leaves a failed edit untouched', async () => {
  await sandbox.writeFile('src/a.js', 'const a = 1;\nconst a2 = 1;\n');
  const ok = await executeTool(
    'edit_file',
    { path: 'src/a.js', old_text: 'const a = 1;', new_text: 'const a = 2;' },
    ctx,
  );
  assert.equal(ok.isError, false);
  const ambiguous = await executeTool('edit_file', { path: 'src/a.js', old_text: '= ', new_text: '=' }, ctx);
  assert.equal(ambiguous.isError, true);
  assert.match(ambiguous.content, /matches 2 times/);
  assert.equal(new TextDecoder().decode(await sandbox.readFile('src/a.js')), 'const a = 2;\nconst a2 = 1;\n');
  const none = await executeTool('edit_file', { path: 'src/none.js', old_text: 'a', new_text: 'b' }, ctx);
  assert.equal(none.isError, true);
  assert.match(none.content, /No such file: src\/none\.js\. Use write_file/);
  const bad = await executeTool('edit_file', { path: 'src/a.js', new_text: 'b' }, ctx);
  assert.match(bad.content, /Invalid input for edit_file: old_text is required/);
});

test('edit_file after a crash: an edit already in the file is reported as applied', async () => {
  await sandbox.writeFile('c.txt', 'count=2\n');
  const r = await executeTool('edit_file', { path: 'c.txt', old_text: 'count=1\n', new_text: 'count=2\n' }, ctx, {
    retryAfterCrash: true,
  });
  assert.equal(r.isError, false);
  assert.match(r.content, /applied before the worker restarted/);
});

test('truncateMiddle keeps the head and the (larger) tail and states the cut', () => {
  const text = Array.from({ length: 10_000 }, (_, i) => `line ${i}`).join('\n');
  const t = truncateMiddle(text, 3000);
  assert.ok(t.startsWith('line 0\nline 1'));
  assert.ok(t.endsWith('line 9999'));
  assert.match(
    t,
    new RegExp(`\\[… ${text.length - 3000} of ${text.length} characters cut from the middle; head and tail kept …\\]`),
  );
  assert.ok(t.length < 3100);
  assert.equal(truncateMiddle('short', 3000), 'short');
});

test('bash output is capped per stream with head and tail kept; exit codes are data', async () => {
  const r = await executeTool(
    'bash',
    { command: 'seq 1 100000; echo oops >&2; exit 3' },
    { ...ctx, maxOutputChars: 4000 },
  );
  assert.equal(r.isError, true);
  assert.match(r.content, /^exit code: 3\nstdout:\n1\n2\n3\n/);
  assert.match(r.content, /characters cut from the middle/);
  assert.match(r.content, /100000\n\nstderr:\noops\n$/);
  assert.match(r.summary, /exit 3/);
});

test('bash times out and says so', async () => {
  // Its own sandbox: the local provider's cgroup kill after a timeout is asynchronous and
  // can hit the next command started in the same sandbox (reported to the sandbox owner).
  const other = await createLocalProvider({
    root: path.join(mkdtempSync(path.join(os.tmpdir(), 'nightshift-tools-')), 'sandboxes'),
  }).create({ key: 'timeout' });
  const r = await executeTool(
    'bash',
    { command: 'echo start; sleep 5', timeout_seconds: 1 },
    { ...ctx, sandbox: other, workspaceRoot: (other as unknown as { workspaceDir: string }).workspaceDir },
  );
  await other.kill();
  assert.equal(r.isError, true);
  assert.match(r.content, /killed after the 1 s timeout/);
});

test('search finds matches with file and line, and says when there are none', async () => {
  await sandbox.writeFile('lib/x.ts', 'export const needle = 1;\n');
  const hit = await executeTool('search', { pattern: 'need+le', glob: '*.ts' }, ctx);
  assert.equal(hit.isError, false, hit.content);
  assert.match(hit.content, /lib\/x\.ts:1:export const needle = 1;/);
  const none = await executeTool('search', { pattern: 'haystack' }, ctx);
  assert.match(none.content, /No matches/);
});

test('list_files shows sizes and directories; unknown tools and ask_human answer without throwing', async () => {
  const r = await executeTool('list_files', { path: '.', depth: 3 }, ctx);
  assert.match(r.content, /lib\/\n/);
  assert.match(r.content, /lib\/x\.ts {2}\(25 bytes\)/);
  assert.match((await executeTool('ask_human', { question: 'A or B?' }, ctx)).content, /No human is available/);
  assert.equal((await executeTool('teleport', {}, ctx)).isError, true);
});

test('reading outside the workspace is a policy violation, not a tool error', async () => {
  await assert.rejects(executeTool('read_file', { path: '../../etc/passwd' }, ctx), { name: 'PolicyViolation' });
});
