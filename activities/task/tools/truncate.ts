/**
 * Caps text the model will read. The end of a test run or a stack trace is where the
 * failure is, so the tail gets the larger share; the cut is always stated, never silent.
 */

/** @default 30000 characters: about 8k tokens, enough for a test run's failures. */
export const DEFAULT_TOOL_OUTPUT_CHARS = 30_000;

export function truncateMiddle(text: string, maxChars: number = DEFAULT_TOOL_OUTPUT_CHARS): string {
  if (text.length <= maxChars) return text;
  const head = Math.floor(maxChars / 3);
  const tail = maxChars - head;
  const cut = text.length - head - tail;
  return `${text.slice(0, head)}\n[… ${cut} of ${text.length} characters cut from the middle; head and tail kept …]\n${text.slice(text.length - tail)}`;
}

/** First line, at most `n` characters: for summaries the workflow keeps in history. */
export function oneLine(text: string, n = 120): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= n ? line : line.slice(0, n - 1) + '…';
}
