import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { failureMessage } from '../../client/errors';

// The client SDK's WorkflowFailedError and WorkflowUpdateFailedError keep the workflow's own
// failure as `cause`; built here as plain errors so the fast tier loads no client.
test("failureMessage reads the workflow's own failure, not the SDK's wrapper", () => {
  const refused = ApplicationFailure.nonRetryable('no task "t-9" in this batch', 'UnknownTask');
  assert.equal(failureMessage(new Error('Workflow Update failed', { cause: refused })), 'no task "t-9" in this batch');
  assert.equal(
    failureMessage(new Error('Workflow execution failed', { cause: refused })),
    'no task "t-9" in this batch',
  );
});

test('failureMessage falls back to the error itself, and to text for a non-error', () => {
  assert.equal(failureMessage(new Error('connection refused')), 'connection refused');
  assert.equal(failureMessage(new Error('wrapped', { cause: 'not an error' })), 'wrapped');
  assert.equal(failureMessage('plain'), 'plain');
});
