/**
 * What an activity or child workflow failed with, out of Temporal's wrappers, so callers
 * branch on the failure types in common/errors.ts and report the message a person can act
 * on instead of "activity task failed". Deterministic code only.
 */
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure } from '@temporalio/common';

export interface DomainError {
  /** An error class name or FailureType from common/errors.ts; undefined for a timeout, a cancellation or a plain error. */
  type?: string;
  message: string;
  /** The failure inside the wrapper (or `err` itself when it is not wrapped): for its details, or to rethrow. */
  error: unknown;
}

export function domainError(err: unknown): DomainError {
  const error = (err instanceof ActivityFailure || err instanceof ChildWorkflowFailure) && err.cause ? err.cause : err;
  return {
    type: error instanceof ApplicationFailure ? (error.type ?? undefined) : undefined,
    message: error instanceof Error ? error.message : String(error),
    error,
  };
}
