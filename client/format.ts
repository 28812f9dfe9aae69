/** Human-readable tables for the CLI; `--json` bypasses all of this. */
import type { TaskResult } from '../contract';

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
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
export function taskTable(tasks: (TaskResult & { title?: string })[], now = Date.now()): string {
  return table(
    ['TASK', 'STATUS', 'COST', 'TOKENS', 'TURNS', 'TIME', 'RESULT'],
    tasks.map((t) => {
      const tokens = t.tokens.input + t.tokens.output + t.tokens.cacheRead + t.tokens.cacheWrite;
      const time = t.startedAt ? duration((t.endedAt ?? now) - t.startedAt) : '-';
      const note = t.prUrl ?? t.branch ?? t.error ?? t.summary ?? t.title ?? '';
      return [t.taskId, t.status, usd(t.costUsd), String(tokens), String(t.turns), time, note.replace(/\s+/g, ' ').slice(0, 80)];
    }),
  );
}

/** Today (or `d`) as YYYY-MM-DD in the local time zone: the night a person means by "tonight". */
export function localDate(d = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}
