/**
 * Replays committed histories of completed batches against today's workflow code
 * (Worker.runReplayHistories). A change that makes the workflows nondeterministic fails
 * here before it can break a night in flight. Re-record with scripts/record-histories.ts
 * only for a deliberate, versioned change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { assertHistoriesReplay } from './helpers/replay';

const DIR = path.join(__dirname, 'fixtures', 'histories');

test('committed histories replay without nondeterminism', async () => {
  const index: Record<string, string> = JSON.parse(readFileSync(path.join(DIR, 'index.json'), 'utf8'));
  const files = readdirSync(DIR).filter((f) => f.endsWith('.json') && f !== 'index.json').sort();
  assert.ok(files.length >= 4, `expected recorded histories in ${DIR}, found ${files.length}`);
  assert.deepEqual(Object.keys(index).sort(), files, 'index.json names every history');
  const histories = files.map((f) => ({ workflowId: index[f], history: JSON.parse(readFileSync(path.join(DIR, f), 'utf8')) as unknown }));
  await assertHistoriesReplay(histories);
});
