import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  RetryState,
  TimeoutFailure,
} from '@temporalio/common';
import { FailureType, SandboxGone } from '../../common/errors';
import { domainError } from '../../workflows/domain-error';

const activity = (cause?: Error) =>
  new ActivityFailure('activity task failed', 'runTool', '3', RetryState.NON_RETRYABLE_FAILURE, 'worker', cause);

test('an activity failure gives the type and message of what the activity threw', () => {
  const thrown = ApplicationFailure.create({ type: SandboxGone.name, message: 'local sandbox sbx-1 is gone' });
  const d = domainError(activity(thrown));
  assert.equal(d.type, 'SandboxGone');
  assert.equal(d.message, 'local sandbox sbx-1 is gone');
  assert.equal(d.error, thrown);
});

test('a child workflow failure is unwrapped the same way', () => {
  const thrown = ApplicationFailure.nonRetryable('merging a conflicts', FailureType.MergeConflict);
  const child = new ChildWorkflowFailure(
    'default',
    { workflowId: 'w', runId: 'r' },
    'agentTask',
    RetryState.NON_RETRYABLE_FAILURE,
    thrown,
  );
  assert.deepEqual({ ...domainError(child) }, { type: 'MergeConflict', message: 'merging a conflicts', error: thrown });
});

test('a timeout has a message and no domain type', () => {
  const d = domainError(activity(new TimeoutFailure('activity StartToClose timeout', undefined, 'START_TO_CLOSE')));
  assert.equal(d.type, undefined);
  assert.equal(d.message, 'activity StartToClose timeout');
});

test('an unwrapped error or a thrown value is reported as it is', () => {
  assert.equal(
    domainError(
      ApplicationFailure.create({ type: 'PolicyViolation', message: 'policy no-git-writes forbids: git push' }),
    ).type,
    'PolicyViolation',
  );
  assert.equal(domainError(new Error('plain')).message, 'plain');
  assert.equal(domainError('a string').message, 'a string');
  // A wrapper without a cause keeps its own message rather than "undefined".
  assert.equal(domainError(activity()).message, 'activity task failed');
});
