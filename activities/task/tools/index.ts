/**
 * Runs one tool call against the task's sandbox. The `runTool` activity (activities/task/sandbox-steps.ts) adds
 * the idempotency around it; this file only maps names to implementations.
 */
import { fail, ok, ToolInputError, type ToolContext, type ToolOutcome } from './context';
import { editFileTool } from './edit';
import { listFilesTool, readFileTool, writeFileTool } from './files';
import { bashTool, searchTool } from './shell';
import { oneLine } from './truncate';

export { TOOL_DEFINITIONS, TOOL_NAMES, type ToolName } from './definitions';
export type { ToolContext, ToolOutcome } from './context';

/**
 * The agent loop answers ask_human itself (workflows/questions/ask-human.ts waits for the `answer`
 * signal); this reply is for a tool call run outside the loop, which has nobody to ask.
 */
export const NO_HUMAN_ANSWER =
  'No human is available to answer right now. State your assumption, note it in your final summary, and go on.';

/**
 * Tools whose effect may not be repeated: if a worker died while one ran, the retry
 * reports that instead of running it again. The others are safe to repeat.
 */
export const SIDE_EFFECTING_TOOLS = new Set(['bash', 'edit_file']);

/** Tools that may change the workspace: after each, the workspace is checkpointed. */
export const WORKSPACE_CHANGING_TOOLS = new Set(['bash', 'edit_file', 'write_file']);

export async function executeTool(
  name: string,
  input: Record<string, unknown>,
  ctx: ToolContext,
  o: { retryAfterCrash?: boolean } = {},
): Promise<ToolOutcome> {
  try {
    switch (name) {
      case 'read_file':
        return await readFileTool(input, ctx);
      case 'write_file':
        return await writeFileTool(input, ctx);
      case 'edit_file':
        return await editFileTool(input, ctx, o);
      case 'list_files':
        return await listFilesTool(input, ctx);
      case 'search':
        return await searchTool(input, ctx);
      case 'bash':
        return await bashTool(input, ctx);
      case 'ask_human':
        return ok(NO_HUMAN_ANSWER, `ask_human: ${oneLine(String(input.question ?? ''), 80)} (no human available)`);
      case 'finish':
        return ok('Task marked as finished.', 'finish');
      default:
        return fail(`Unknown tool "${name}".`, `unknown tool ${oneLine(name, 40)}`);
    }
  } catch (err) {
    if (err instanceof ToolInputError)
      return fail(`Invalid input for ${name}: ${err.message}`, `${name}: invalid input`);
    throw err;
  }
}

/** A short description of a tool call for history and status: never the whole input. */
export function summarizeToolInput(name: string, input: Record<string, unknown>): string {
  const s = (k: string) => (typeof input[k] === 'string' ? (input[k] as string) : '');
  switch (name) {
    case 'bash':
      return oneLine(s('command'), 100);
    case 'write_file':
      return `${oneLine(s('path'), 80)} (${s('content').length} chars)`;
    case 'edit_file':
    case 'read_file':
    case 'list_files':
      return oneLine(s('path') || '.', 100);
    case 'search':
      return `/${oneLine(s('pattern'), 60)}/ in ${oneLine(s('path') || '.', 40)}`;
    case 'ask_human':
      return oneLine(s('question'), 100);
    default:
      return '';
  }
}
