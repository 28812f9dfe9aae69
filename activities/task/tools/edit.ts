/** edit_file: exact string replacement, refusing to guess when the text is missing or ambiguous. */
import { cleanPath, fail, ok, str, type ToolContext, type ToolOutcome } from './context';
import { readText } from './files';

function lineOf(text: string, index: number): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

function occurrences(text: string, needle: string): number[] {
  const at: number[] = [];
  for (let i = text.indexOf(needle); i !== -1; i = text.indexOf(needle, i + needle.length)) at.push(i);
  return at;
}

/** Applies the edit to `text`, or says why not. Pure, so its edge cases are tested on their own. */
export function applyEdit(
  text: string,
  oldText: string,
  newText: string,
  replaceAll = false,
  file = 'the file',
): { text: string; count: number } | { error: string } {
  if (oldText === '') return { error: 'old_text is empty; use write_file to create or overwrite a file' };
  if (oldText === newText) return { error: 'old_text and new_text are the same; nothing to change' };
  const at = occurrences(text, oldText);
  if (at.length === 0) {
    const loose = (s: string) => s.replace(/\s+/g, ' ').trim();
    const hint = loose(text).includes(loose(oldText))
      ? ' It does match if whitespace is ignored: copy the indentation and line breaks exactly.'
      : ' Read the file again and copy the text exactly.';
    return { error: `old_text was not found in ${file}.${hint}` };
  }
  if (at.length > 1 && !replaceAll) {
    const lines = at.slice(0, 10).map((i) => lineOf(text, i));
    return {
      error: `old_text matches ${at.length} times in ${file} (at lines ${lines.join(', ')}${at.length > 10 ? ', …' : ''}); include more surrounding lines so it matches once, or set replace_all.`,
    };
  }
  // split/join, not String.replace: "$&" and friends in new_text must stay literal.
  return {
    text: replaceAll
      ? text.split(oldText).join(newText)
      : text.slice(0, at[0]) + newText + text.slice(at[0] + oldText.length),
    count: replaceAll ? at.length : 1,
  };
}

export async function editFileTool(
  input: Record<string, unknown>,
  ctx: ToolContext,
  o: { retryAfterCrash?: boolean } = {},
): Promise<ToolOutcome> {
  const p = cleanPath(input.path);
  const oldText = str(input, 'old_text');
  const newText = str(input, 'new_text');
  const text = await readText(ctx, p);
  if (text === undefined) return fail(`No such file: ${p}. Use write_file to create it.`, `edit_file ${p}: not found`);
  const r = applyEdit(text, oldText, newText, input.replace_all === true, p);
  if ('error' in r) {
    // The same edit, attempted before the worker died, may already be in the file.
    if (o.retryAfterCrash && newText !== '' && !text.includes(oldText) && text.includes(newText)) {
      return ok(`Edited ${p} (the edit was applied before the worker restarted).`, `edit_file ${p}`);
    }
    return fail(r.error, `edit_file ${p}: ${r.error.split(';')[0].split('.')[0]}`);
  }
  await ctx.sandbox.writeFile(p, r.text);
  return ok(`Edited ${p}: replaced ${r.count} occurrence${r.count === 1 ? '' : 's'}.`, `edit_file ${p} (${r.count})`);
}
