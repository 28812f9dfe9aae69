/**
 * Replays committed histories of completed batches against today's workflow code
 * (Worker.runReplayHistories). Histories recorded by earlier versions stay: a change that
 * makes the workflows nondeterministic fails here, saying whether to pin, patch or version,
 * before it can break a night in flight. New histories are recorded beside the old ones
 * (scripts/record-histories.ts LABEL), never over them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { rmSync } from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { assertHistoriesReplay } from './helpers/replay';
import { buildVersionB } from './helpers/code-version';
import { VERSIONING_BEHAVIOR } from '../workflows/versioning';

const DIR = path.join(__dirname, 'fixtures', 'histories');

test('committed histories replay without nondeterminism', async () => {
  const index: Record<string, string> = JSON.parse(readFileSync(path.join(DIR, 'index.json'), 'utf8'));
  const files = readdirSync(DIR)
    .filter((f) => f.endsWith('.json') && f !== 'index.json')
    .sort();
  assert.ok(files.length >= 4, `expected recorded histories in ${DIR}, found ${files.length}`);
  assert.deepEqual(Object.keys(index).sort(), files, 'index.json names every history');
  await assertHistoriesReplay(committed());
});

function committed(): { workflowId: string; history: unknown }[] {
  const index: Record<string, string> = JSON.parse(readFileSync(path.join(DIR, 'index.json'), 'utf8'));
  return Object.keys(index)
    .sort()
    .map((f) => ({ workflowId: index[f], history: JSON.parse(readFileSync(path.join(DIR, f), 'utf8')) as unknown }));
}

test('a nondeterministic change fails the check with what to do: pin, patch or version', async () => {
  // Version B makes an extra activity call at the start of every batch and agent loop.
  const root = buildVersionB();
  try {
    const bundle = await bundleWorkflowCode({
      workflowsPath: path.join(root, 'workflows', 'index.ts'),
      logger: {
        log: () => undefined,
        trace: () => undefined,
        debug: () => undefined,
        info: () => undefined,
        warn: () => undefined,
        error: () => undefined,
      },
    });
    const err = await assertHistoriesReplay(committed(), bundle).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(err, "version B's code must not replay the committed histories");
    assert.match(err.message, /histories recorded by earlier versions no longer replay/);
    assert.match(err.message, /nightlyBatch is PINNED/);
    assert.match(err.message, /patched\('<descriptive-id>'\)/);
    assert.match(err.message, /new build ID/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('every registered workflow type declares its versioning behavior', async () => {
  const registered = Object.keys(await import('../workflows/index')).sort();
  assert.deepEqual(Object.keys(VERSIONING_BEHAVIOR).sort(), registered);
});
