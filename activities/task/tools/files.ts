/** read_file, write_file, list_files: plain file access through the Sandbox interface. */
import { cleanPath, fail, isNotFound, ok, str, ToolInputError, type ToolContext, type ToolOutcome } from './context';
import { truncateMiddle } from './truncate';

const decoder = new TextDecoder('utf-8');

/**
 * Largest file read_file and edit_file read into the worker: the model sees at most a
 * tool result's worth of it anyway, and larger files are read in parts with bash.
 */
export const MAX_TOOL_READ_BYTES = 8 * 1024 * 1024;

/** A refusal the model can act on: the file is too big, or no regular file at all. */
function refusal(err: unknown, p: string): string | undefined {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EFBIG')
    return `${p} is larger than ${MAX_TOOL_READ_BYTES} bytes; read parts of it with bash (head, tail, sed -n)`;
  if (code === 'EFTYPE')
    return `${p} is not a regular file (a FIFO, socket, device or symlink swapped in); it is not opened`;
  return undefined;
}

async function readCapped(ctx: ToolContext, p: string): Promise<Uint8Array> {
  const bytes = await ctx.sandbox.readFile(p, { maxBytes: MAX_TOOL_READ_BYTES });
  // A provider that reads before it can tell the size still never hands on more.
  if (bytes.length > MAX_TOOL_READ_BYTES) throw Object.assign(new Error(`${p} is too large`), { code: 'EFBIG' });
  return bytes;
}

export async function readText(ctx: ToolContext, p: string): Promise<string | undefined> {
  try {
    return decoder.decode(await readCapped(ctx, p));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    const why = refusal(err, p);
    if (why) throw new ToolInputError(why);
    throw err;
  }
}

export async function readFileTool(input: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome> {
  const p = cleanPath(input.path);
  let bytes: Uint8Array;
  try {
    bytes = await readCapped(ctx, p);
  } catch (err) {
    if (isNotFound(err)) return fail(`No such file: ${p}`, `read_file ${p}: not found`);
    if ((err as NodeJS.ErrnoException).code === 'EISDIR')
      return fail(`${p} is a directory; use list_files`, `read_file ${p}: a directory`);
    const why = refusal(err, p);
    if (why) return fail(why, `read_file ${p}: refused`);
    throw err;
  }
  if (bytes.subarray(0, 8000).includes(0))
    return fail(`${p} is a binary file (${bytes.length} bytes)`, `read_file ${p}: binary`);
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
  return ok(
    header + truncateMiddle(part.join('\n'), ctx.maxOutputChars),
    `read_file ${p} lines ${from + 1}-${from + part.length}`,
  );
}

export async function writeFileTool(input: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome> {
  const p = cleanPath(input.path);
  const content = str(input, 'content');
  try {
    await ctx.sandbox.writeFile(p, content);
  } catch (err) {
    const why = refusal(err, p);
    if (why) return fail(why, `write_file ${p}: refused`);
    throw err;
  }
  return ok(
    `Wrote ${Buffer.byteLength(content)} bytes to ${p}.`,
    `write_file ${p} (${Buffer.byteLength(content)} bytes)`,
  );
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
  const shown = entries
    .filter((e) => !NOISY.test(e.path))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const lines = shown
    .slice(0, MAX_ENTRIES)
    .map((e) => (e.type === 'dir' ? `${e.path}/` : `${e.path}  (${e.size} bytes)`));
  if (shown.length > MAX_ENTRIES)
    lines.push(`[… ${shown.length - MAX_ENTRIES} more entries not shown; list a subdirectory]`);
  if (lines.length === 0) lines.push('(empty)');
  return ok(lines.join('\n'), `list_files ${p}: ${shown.length} entries`);
}
