/** Pure helpers that summarise task results for the status query and the Web UI. */
import { NO_TOKENS, type BatchStatus, type TaskResult, type TokenUsage } from './contract';

export function sumResults(results: readonly TaskResult[]): { costUsd: number; tokens: TokenUsage; turns: number } {
  const tokens = { ...NO_TOKENS };
  let costUsd = 0;
  let turns = 0;
  for (const r of results) {
    costUsd += r.costUsd;
    turns += r.turns;
    tokens.input += r.tokens.input;
    tokens.output += r.tokens.output;
    tokens.cacheWrite += r.tokens.cacheWrite;
    tokens.cacheRead += r.tokens.cacheRead;
  }
  return { costUsd: Math.round(costUsd * 1e6) / 1e6, tokens, turns };
}

/** Markdown shown as the workflow's current details in the Web UI. */
export function progressTable(status: BatchStatus): string {
  const counts = new Map<string, number>();
  for (const t of status.tasks) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
  const summary = [...counts].map(([s, n]) => `${n} ${s}`).join(' · ');
  const rows = status.tasks
    .filter((t) => t.status !== 'pending')
    .slice(0, 40)
    .map((t) => `| ${t.taskId} | ${t.status} | $${t.costUsd.toFixed(2)} | ${t.error ?? t.summary ?? ''} |`);
  const more = status.tasks.length > 40 ? `\n…and ${status.tasks.length - 40} more` : '';
  const budget = status.budget ? ` · $${status.budget.spentUsd.toFixed(2)} of $${status.budget.capUsd.toFixed(2)}` : '';
  return [`**${status.state}** · ${summary}${budget}`, '', '| task | status | cost | note |', '|---|---|---|---|', ...rows].join('\n') + more;
}
