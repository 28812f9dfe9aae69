/**
 * Task defaults (taskfile/defaults.ts): a task the loader built carries its settings, and a
 * task from an older history or built outside the loader reads the loader's defaults,
 * never a second copy of them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULTS, taskSetting } from '../../taskfile/defaults';

test('a task without the field gets the loader default; a set field, even 0, is kept', () => {
  assert.equal(taskSetting({}, 'fixAttempts'), DEFAULTS.fixAttempts);
  assert.equal(taskSetting({}, 'questionTimeoutMs'), 8 * 3_600_000);
  assert.equal(taskSetting({}, 'onQuestionTimeout'), 'continue');
  assert.equal(
    taskSetting({ fixAttempts: 0 }, 'fixAttempts'),
    0,
    'fix_attempts: 0 means no fix rounds, not the default',
  );
  assert.equal(taskSetting({ questionTimeoutMs: 60_000 }, 'questionTimeoutMs'), 60_000);
  assert.equal(taskSetting({ onQuestionTimeout: 'park' }, 'onQuestionTimeout'), 'park');
});
