/** The did-you-mean: a swapped or dropped letter gets a hint, another word gets none. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatSpecIssue, SpecError } from '../../common/errors';
import { didYouMean, nearest } from '../../common/suggest';
import { loadBatchSpec } from '../../taskfile/load';

test('a swapped pair of letters and a dropped letter each count as one edit', () => {
  assert.equal(didYouMean('titel', ['description', 'title', 'role']), 'title');
  assert.equal(didYouMean('medum', ['low', 'medium', 'high']), 'medium');
  assert.equal(didYouMean('dokcer', ['local', 'e2b', 'docker']), 'docker');
});

test('a word that is not a typo of any known name gets no suggestion', () => {
  assert.equal(didYouMean('banana', ['low', 'medium', 'high']), undefined);
  assert.equal(didYouMean('kubernetes', ['local', 'e2b', 'docker']), undefined);
  assert.deepEqual(nearest('xyz', ['show', 'add', 'set']), []);
});

test('nearest lists the closest first, ties alphabetically, up to max', () => {
  assert.deepEqual(
    nearest('claude-sonet-5-5', ['claude-sonnet-4-5', 'claude-sonnet-5-5', 'claude-opus-5'], { max: 2, floor: 2 }),
    ['claude-sonnet-5-5', 'claude-sonnet-4-5'],
  );
});

test('a task file with misspelt keys and choices names the intended ones, file and line', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'suggest-'));
  const file = path.join(dir, 'night.yaml');
  writeFileSync(
    file,
    [
      'tasks:',
      '  - id: fix',
      '    titel: Fix it',
      '    description: d',
      '    estimated_complexity: medum',
      '    sandbox:',
      '      provider: dokcer',
      '    banana: 1',
      '',
    ].join('\n'),
  );
  const err = await loadBatchSpec(file, dir).then(
    () => assert.fail('expected a SpecError'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof SpecError);
  assert.deepEqual(err.issues.map(formatSpecIssue).sort(), [
    'night.yaml:3 tasks[0].titel: unknown key "titel"; did you mean "title"?',
    'night.yaml:5 tasks[0].estimated_complexity: must be one of low, medium, high; did you mean "medium"?',
    'night.yaml:7 tasks[0].sandbox.provider: must be one of local, e2b, docker; did you mean "docker"?',
    'night.yaml:8 tasks[0].banana: unknown key "banana"',
  ]);
});
