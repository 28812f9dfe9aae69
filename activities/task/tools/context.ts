/** What every tool receives, and what it gives back. */
import type { SafetyPolicy } from '../../../sandbox/policy';
import type { Sandbox } from '../../../sandbox/types';

export interface ToolContext {
  sandbox: Sandbox;
  /** The workspace as the safety policy sees it (a host path for the local provider). */
  workspaceRoot: string;
  policy: SafetyPolicy;
  signal?: AbortSignal;
  /** Called as a command prints, so the activity can heartbeat. */
  onOutput?: (chunk: string) => void;
  /** @default DEFAULT_TOOL_OUTPUT_CHARS */
  maxOutputChars?: number;
  /** @default 300000 (5 minutes) */
  bashTimeoutMs?: number;
}

/**
 * A tool's answer. Mistakes the model can fix (a missing file, an ambiguous edit) are
 * `isError` outcomes, not exceptions: exceptions mean the infrastructure failed (retry)
 * or the policy was broken (halt).
 */
export interface ToolOutcome {
  isError: boolean;
  content: string;
  /** One short line for the workflow's status. */
  summary: string;
}

export const ok = (content: string, summary: string): ToolOutcome => ({ isError: false, content, summary });
export const fail = (content: string, summary = content): ToolOutcome => ({ isError: true, content, summary });

/**
 * Workspace-relative form of a path the model gave. Absolute paths are kept for the
 * sandbox to resolve (it refuses those outside the workspace); this only tidies.
 */
export function cleanPath(p: unknown, fallback?: string): string {
  if (typeof p !== 'string' || p.trim() === '') {
    if (fallback !== undefined) return fallback;
    throw new ToolInputError('path is required');
  }
  return p.trim().replace(/^\.\/+/, '') || '.';
}

/** Input the model got wrong; reported back to it as an error result. */
export class ToolInputError extends Error {}

export function str(input: Record<string, unknown>, name: string): string {
  const v = input[name];
  if (typeof v !== 'string') throw new ToolInputError(`${name} is required and must be a string`);
  return v;
}

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function isNotFound(err: unknown): boolean {
  return (
    (err as NodeJS.ErrnoException)?.code === 'ENOENT' ||
    /no such file|not found|ENOENT/i.test((err as Error)?.message ?? '')
  );
}
