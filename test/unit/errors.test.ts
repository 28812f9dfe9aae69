import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DELIVERY_NON_RETRYABLE_ERRORS,
  FailureType,
  ModelNotConfigured,
  NON_RETRYABLE_ERRORS,
  PolicyViolation,
  PullRequestFailed,
  SandboxConfigError,
  SandboxGone,
  SpecError,
} from '../../common/errors';

// Running nights scheduled their activities with these lists: deriving them from the classes must not change them.
test('the non-retryable lists derived from the classes are the ones histories carry', () => {
  assert.deepEqual([...NON_RETRYABLE_ERRORS].sort(), [
    'BudgetExceeded',
    'ModelNotConfigured',
    'ModelRequestInvalid',
    'PolicyViolation',
    'SandboxConfigError',
    'SandboxGone',
    'SpecError',
  ]);
  assert.deepEqual(
    [...DELIVERY_NON_RETRYABLE_ERRORS].sort(),
    [...NON_RETRYABLE_ERRORS, 'CheckedTreeChanged', 'DeliveryUnsupported', 'MergeConflict', 'PullRequestFailed'].sort(),
  );
});

test("an error's name on the wire is its class name", () => {
  assert.equal(new SandboxGone('x').name, 'SandboxGone');
  assert.equal(new PolicyViolation('no-git-writes', 'git push').name, 'PolicyViolation');
  assert.equal(new SpecError([]).name, 'SpecError');
  assert.equal(new SandboxConfigError('x').name, 'SandboxConfigError');
  assert.equal(new ModelNotConfigured('x').name, 'ModelNotConfigured');
  assert.equal(new PullRequestFailed('x').name, PullRequestFailed.name);
});

test('a class not marked non-retryable stays retryable outside delivery', () => {
  assert.ok(!NON_RETRYABLE_ERRORS.includes(PullRequestFailed.name));
  assert.ok(!NON_RETRYABLE_ERRORS.includes(FailureType.ModelUnavailable));
  assert.ok(!DELIVERY_NON_RETRYABLE_ERRORS.includes(FailureType.DeliveryFailed));
});
