/**
 * Markdown for the Web UI's current details, written one way: every piece of text that
 * is not ours (task titles, errors, the agent's summaries and questions) goes through
 * mdText, and money through mdUsd. The Web UI reads `$…$` as math and a newline as the
 * end of a table row, so unescaped text broke the table and turned `$0.00 of $10.00`
 * into a formula.
 *
 * Pure and deterministic: workflows use it.
 */

/** Markdown punctuation a renderer would act on, `$` (math) and `|` (table cells) among it. */
const SPECIAL = /[\\`*_{}[\]<>#|$~!]/g;

/** `s` as literal text on one line: escaped, line breaks and runs of spaces made one space, capped. */
export function mdText(s: string, maxChars = 300): string {
  const line = s.replace(/\s+/g, ' ').trim();
  const capped = line.length > maxChars ? `${line.slice(0, maxChars - 1)}…` : line;
  return capped.replace(SPECIAL, (c) => `\\${c}`);
}

/** A dollar amount as markdown: `\$1.25`. */
export function mdUsd(n: number, digits = 2): string {
  return `\\$${n.toFixed(digits)}`;
}

/** `s` as inline code (a command to copy): backticks in it lengthen the fence. */
export function mdCode(s: string): string {
  const line = s.replace(/\s+/g, ' ').trim();
  const longest = Math.max(0, ...Array.from(line.matchAll(/`+/g), (m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}${line.startsWith('`') || line.endsWith('`') ? ` ${line} ` : line}${fence}`;
}

/** A table: header cells and rows of cells, each already markdown. */
export function mdTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** A UTC time as `2026-11-21 02:13 UTC`. */
export function mdTime(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
