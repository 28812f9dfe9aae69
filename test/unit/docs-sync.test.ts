/**
 * The manual stays true to the code: the task-file reference is what the schema renders
 * today, and every schema key has a text to render.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { renderTaskFileReference, TASK_FILE_REFERENCE, undescribedKeys } from '../../scripts/gen-taskfile-reference';

test('docs/task-file.md is what the schema renders today', () => {
  const committed = existsSync(TASK_FILE_REFERENCE) ? readFileSync(TASK_FILE_REFERENCE, 'utf8') : '';
  assert.ok(committed === renderTaskFileReference(), 'docs/task-file.md is out of date with spec/schema.ts: run npm run docs:taskfile');
});

test('every task-file key has a describe text', () => {
  assert.deepEqual(undescribedKeys(), [], 'add a .describe() to these keys in spec/schema.ts, then run npm run docs:taskfile');
});
