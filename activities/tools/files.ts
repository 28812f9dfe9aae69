/** read_file, write_file, list_files: plain file access through the Sandbox interface. */
import { cleanPath, fail, isNotFound, ok, str, type ToolContext, type ToolOutcome } from './context';
import { truncateMiddle } from './truncate';

const decoder = new TextDecoder('utf-8');

export async function readText(ctx: ToolContext, p: string): Promise<string | undefined> {
  try {
    return decoder.decode(await ctx.sandbox.readFile(p));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function readFileTool(input: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome> {
  const p = cleanPath(input.path);
  let bytes: Uint8Array;
  try {
    bytes = await ctx.sandbox.readFile(p);
  } catch (err) {
    if (isNotFound(err)) return fail(`No such file: ${p}`, `read_file ${p}: not found`);
    if ((err as NodeJS.ErrnoException).code === 'EISDIR') return fail(`${p} is a directory; use list_files`, `read_file ${p}: a directory`);
    throw err;
  }
  if (bytes.subarray(0, 8000).includes(0)) return fail(`${p} is a binary file (${bytes.length} bytes)`, `read_file ${p}: binary`);
  const text = decoder.decode(bytes);
  const offset = typeof input.offset === 'number' ? Math.max(1, Math.floor(input.offset)) : undefined;
  const limit = typeof input.limit === 'number' ? Math.max(1, Math.floor(input.limit)) : undefined;
  if (offset === undefined && limit === undefined) {
    return ok(truncateMiddle(text, ctx.maxOutputChars), `read_file ${p} (${bytes.length} bytes)`);
  }
  const lines = text.split('\n');
  const from = (offset ?? 1) - 1;
  const part = lines.slice(from, limit === undefined ? undefined : from + limit);
  const header = `[lines ${from + 1}-${from + part.length} of ${lines.length}]\n`;
  return ok(header + truncateMiddle(part.join('\n'), ctx.maxOutputChars), `read_file ${p} lines ${from + 1}-${from + part.length}`);
}

export async function writeFileTool(input: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome> {
  const p = cleanPath(input.path);
  const content = str(input, 'content');
  await ctx.sandbox.writeFile(p, content);
  return ok(`Wrote ${Buffer.byteLength(content)} bytes to ${p}.`, `write_file ${p} (${Buffer.byteLength(content)} bytes)`);
}

/** Directories whose contents are listed only on request: they drown the listing. */
const NOISY = /(^|\/)(\.git|node_modules|\.venv|__pycache__|dist|build|\.next|target)\//;
const MAX_ENTRIES = 500;

export async function listFilesTool(input: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome> {
  const p = cleanPath(input.path, '.');
  const depth = typeof input.depth === 'number' ? Math.min(10, Math.max(1, Math.floor(input.depth))) : 2;
  let entries;
  try {
    entries = await ctx.sandbox.list(p, { depth });
  } catch (err) {
    if (isNotFound(err)) return fail(`No such directory: ${p}`, `list_files ${p}: not found`);
    throw err;
  }
  const shown = entries.filter((e) => !NOISY.test(e.path)).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const lines = shown.slice(0, MAX_ENTRIES).map((e) => (e.type === 'dir' ? `${e.path}/` : `${e.path}  (${e.size} bytes)`));
  if (shown.length > MAX_ENTRIES) lines.push(`[… ${shown.length - MAX_ENTRIES} more entries not shown; list a subdirectory]`);
  if (lines.length === 0) lines.push('(empty)');
  return ok(lines.join('\n'), `list_files ${p}: ${shown.length} entries`);
}
