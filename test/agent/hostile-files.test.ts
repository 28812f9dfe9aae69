/**
 * Special files the agent leaves in its workspace, met by the worker's own file access
 * (the tool functions and keepWork on the local provider): a FIFO never blocks a libuv
 * thread, a sparse 512 MiB file is never read into memory or copied, a symlink is never
 * followed out, and the search tool keeps to the workspace. Scratch space is outside /tmp.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAgentActivities } from '../../activities/task/sandbox-steps';
import { executeTool, type ToolContext } from '../../activities/task/tools';
import { FileTranscriptStore } from '../../activities/task/transcripts';
import { PolicyViolation } from '../../common/errors';
import { createLocalProvider, shutdownIsolation, type LocalSandbox } from '../../sandbox/local';
import { DEFAULT_SAFETY_POLICY } from '../../sandbox/policy';
import { routeSandboxes } from '../../sandbox/router';
import { scratchDir } from '../helpers/outside-tmp';

const HALF_GIB = 512 * 1024 * 1024;

describe('special files in the workspace, met by the worker', () => {
  const scratch = scratchDir('hostile-files');
  const provider = createLocalProvider({ root: path.join(scratch, '.nightshift', 'sandboxes') });
  const outside = path.join(scratch, 'outside.txt');
  let sb: LocalSandbox;
  let ctx: ToolContext;

  before(async () => {
    fs.writeFileSync(outside, 'outside the workspace\n');
    sb = (await provider.create({ key: 'hostile-files' })) as LocalSandbox;
    ctx = { sandbox: sb, workspaceRoot: sb.workspaceDir, policy: DEFAULT_SAFETY_POLICY };
    const r = await sb.exec(
      [
        'printf "plain\\n" > plain.txt',
        'for i in 1 2 3 4 5 6 7 8; do mkfifo pipe$i; done',
        `truncate -s ${HALF_GIB} sparse.bin`,
        `ln -s ${outside} out-link`,
        'ln -s plain.txt in-link',
        `ln -s ${scratch} out-dir`,
      ].join('\n'),
    );
    assert.equal(r.exitCode, 0, r.stderr);
  });
  after(async () => {
    await sb.kill();
    await shutdownIsolation();
  });

  // A blocking open never returns: the timeout turns that hang into a failure.
  it(
    'read_file, write_file and edit_file refuse FIFOs at once and leave the thread pool free',
    { timeout: 60_000 },
    async () => {
      const started = Date.now();
      // More FIFOs than libuv has threads (4): one blocking open each would stall all file I/O.
      const reads = await Promise.all(
        [1, 2, 3, 4, 5, 6, 7, 8].map((i) => executeTool('read_file', { path: `pipe${i}` }, ctx)),
      );
      for (const r of reads) {
        assert.equal(r.isError, true);
        assert.match(r.content, /not a regular file/);
      }
      const write = await executeTool('write_file', { path: 'pipe1', content: 'x' }, ctx);
      assert.equal(write.isError, true);
      assert.match(write.content, /not a regular file/);
      const edit = await executeTool('edit_file', { path: 'pipe2', old_text: 'a', new_text: 'b' }, ctx);
      assert.equal(edit.isError, true);
      assert.match(edit.content, /not a regular file/);
      // The pool still answers: ordinary reads complete.
      assert.equal(await fs.promises.readFile(outside, 'utf8'), 'outside the workspace\n');
      assert.equal((await executeTool('read_file', { path: 'plain.txt' }, ctx)).content, 'plain\n');
      assert.ok(Date.now() - started < 20_000, 'nothing waited for a FIFO writer');
      assert.ok(fs.statSync(path.join(sb.workspaceDir, 'pipe1')).isFIFO(), 'the FIFO was not replaced or truncated');
    },
  );

  it('read_file refuses a sparse 512 MiB file without reading it into memory', async () => {
    const before = process.memoryUsage().rss;
    const r = await executeTool('read_file', { path: 'sparse.bin' }, ctx);
    assert.equal(r.isError, true);
    assert.match(r.content, /larger than \d+ bytes; read parts of it with bash/);
    assert.ok(process.memoryUsage().rss - before < 128 * 1024 * 1024, 'the file was not read whole');
    const edit = await executeTool('edit_file', { path: 'sparse.bin', old_text: 'a', new_text: 'b' }, ctx);
    assert.equal(edit.isError, true);
  });

  it('symlinks: followed inside the workspace, refused out of it, by read_file and search alike', async () => {
    assert.equal((await executeTool('read_file', { path: 'in-link' }, ctx)).content, 'plain\n');
    await assert.rejects(executeTool('read_file', { path: 'out-link' }, ctx), PolicyViolation);
    await assert.rejects(executeTool('search', { pattern: 'outside', path: 'out-dir' }, ctx), PolicyViolation);
    await assert.rejects(executeTool('search', { pattern: 'outside', path: scratch }, ctx), PolicyViolation);
    await assert.rejects(executeTool('search', { pattern: 'root', path: '../../..' }, ctx), PolicyViolation);
    const inside = await executeTool('search', { pattern: 'plain', path: '.' }, ctx);
    assert.equal(inside.isError, false, inside.content);
    assert.match(inside.content, /plain\.txt/);
  });

  it('list_files leaves FIFOs out and flags symlinks', async () => {
    const entries = await sb.list('.');
    assert.ok(!entries.some((e) => e.path.startsWith('pipe')), JSON.stringify(entries));
    assert.deepEqual(
      entries
        .filter((e) => e.symlink)
        .map((e) => e.path)
        .sort(),
      ['in-link', 'out-dir', 'out-link'],
    );
  });

  it(
    'keepWork copies plain files only: no FIFO opened, no sparse file materialised, no symlink followed',
    { timeout: 60_000 },
    async () => {
      const config = { root: scratch };
      const acts = createAgentActivities({
        config,
        sandboxes: routeSandboxes({ local: provider }),
        transcripts: new FileTranscriptStore({ dir: path.join(scratch, 'transcripts') }),
      });
      const started = Date.now();
      const kept = (await new MockActivityEnvironment().run(acts.keepWork, {
        workflowId: 'b/hostile-files',
        sandboxId: sb.id,
      })) as Awaited<ReturnType<typeof acts.keepWork>>;
      assert.ok(Date.now() - started < 20_000);
      assert.deepEqual(fs.readdirSync(kept.workDir).sort(), ['plain.txt']);
      assert.equal(kept.files, 1);
      assert.equal(kept.bytes, 6);
      assert.equal(kept.skipped, 4, 'the sparse file and the three symlinks');
    },
  );
});
