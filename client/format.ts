/** Human-readable tables for the CLI; `--json` bypasses all of this. */
import * as readline from 'node:readline';
import stringWidth from 'string-width';
import type { TaskResult } from '../contract';

const GAP = '  ';
const ELLIPSIS = '…';
/** A free-text column is never cut narrower than this, or than its heading. */
const MIN_FREE_TEXT = 12;

/** The terminal's width when output goes to one; none for a pipe or a file, so scripts get every character. */
export function terminalColumns(
  out: Pick<NodeJS.WriteStream, 'isTTY' | 'columns'> = process.stdout,
): number | undefined {
  return out.isTTY && out.columns > 0 ? out.columns : undefined;
}

/** `text` cut to at most `width` terminal columns, ending in an ellipsis when cut. Counts wide (CJK, emoji) characters as two. */
export function truncate(text: string, width: number): string {
  if (stringWidth(text) <= width) return text;
  let out = '';
  let used = 0;
  for (const ch of text) {
    const w = stringWidth(ch);
    if (used + w > width - 1) break;
    out += ch;
    used += w;
  }
  return out + ELLIPSIS;
}

/** `text` padded with spaces to `width` terminal columns (String.padEnd counts a wide character as one). */
export const padToWidth = (text: string, width: number): string =>
  text + ' '.repeat(Math.max(0, width - stringWidth(text)));

export interface TableOptions {
  /** Headings of the free-text columns that may be cut to fit, the widest cut first. */
  fit?: readonly string[];
  /** Columns to fit in. @default the terminal's width, or none (nothing cut) when not a terminal */
  width?: number;
}

/**
 * Columns aligned by display width. When the table is wider than `width`, the widest
 * free-text column is cut (with an ellipsis), then the next, never below a readable width.
 */
export function table(header: string[], rows: string[][], o: TableOptions = {}): string {
  const widths = header.map((h, i) => Math.max(stringWidth(h), ...rows.map((r) => stringWidth(r[i] ?? ''))));
  const width = 'width' in o ? o.width : terminalColumns();
  if (width !== undefined) {
    const free = header.map((h, i) => (o.fit?.includes(h) ? i : -1)).filter((i) => i >= 0);
    let over = widths.reduce((a, b) => a + b, 0) + GAP.length * (widths.length - 1) - width;
    while (over > 0) {
      const floorOf = (i: number) => Math.max(MIN_FREE_TEXT, stringWidth(header[i]));
      const cuttable = free.filter((i) => widths[i] > floorOf(i)).sort((a, b) => widths[b] - widths[a]);
      if (cuttable.length === 0) break;
      const i = cuttable[0];
      const cut = Math.min(over, widths[i] - floorOf(i));
      widths[i] -= cut;
      over -= cut;
    }
  }
  const line = (cells: string[]) =>
    cells
      .map((c, i) => {
        const cell = stringWidth(c) > widths[i] ? truncate(c, widths[i]) : c;
        return i === cells.length - 1 ? cell : padToWidth(cell, widths[i]);
      })
      .join(GAP)
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** Terminal rows `text` takes: a line wider than the terminal wraps onto more. */
function screenRows(text: string, columns: number): number {
  return text.split('\n').reduce((n, l) => n + Math.max(1, Math.ceil(stringWidth(l) / columns)), 0);
}

/**
 * For `status --watch`: each call replaces what the last one drew, in place, rather than
 * clearing the screen (which flickers and scrolls the person's history away). A frame
 * taller than the screen cannot be reached by moving up, so then the screen is cleared.
 */
export function redrawer(out: NodeJS.WriteStream): (text: string) => void {
  let rows = 0;
  return (text) => {
    if (rows > 0 && rows < out.rows) {
      readline.moveCursor(out, 0, -rows);
      readline.cursorTo(out, 0);
    } else if (rows > 0) readline.cursorTo(out, 0, 0);
    readline.clearScreenDown(out);
    out.write(`${text}\n`);
    rows = screenRows(text, out.columns || 80);
  };
}

export function duration(ms: number | undefined): string {
  if (ms === undefined || ms < 0) return '-';
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return m < 60 ? `${m}m${Math.round((ms % 60_000) / 1000)}s` : `${Math.floor(m / 60)}h${m % 60}m`;
}

export const usd = (n: number) => `$${n.toFixed(2)}`;

/** One row per task: the result table of `start --wait`, `status` and the demo. */
export function taskTable(tasks: (TaskResult & { title?: string })[], now = Date.now(), o: TableOptions = {}): string {
  return table(
    ['TASK', 'STATUS', 'COST', 'TOKENS', 'TURNS', 'TIME', 'RESULT'],
    tasks.map((t) => {
      const tokens = t.tokens.input + t.tokens.output + t.tokens.cacheRead + t.tokens.cacheWrite;
      const time = t.startedAt ? duration((t.endedAt ?? now) - t.startedAt) : '-';
      const note = t.prUrl ?? t.branch ?? t.error ?? t.summary ?? t.title ?? '';
      return [t.taskId, t.status, usd(t.costUsd), String(tokens), String(t.turns), time, note.replace(/\s+/g, ' ')];
    }),
    { fit: ['RESULT'], ...o },
  );
}

/** Today (or `d`) as YYYY-MM-DD in the local time zone: the night a person means by "tonight". */
export function localDate(d = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}
