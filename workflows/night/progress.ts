/** Pure helpers that summarise task results for the status query and the Web UI. */
import {
  NO_TOKENS,
  type BatchStatus,
  type OpenQuestion,
  type TaskResult,
  type TaskStatus,
  type TokenUsage,
} from '../../contract';
import { mdCode, mdTable, mdText, mdTime, mdUsd } from '../markdown';
import { roundUsd } from '../../common/money';

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
  return { costUsd: roundUsd(costUsd), tokens, turns };
}

/** What the Web UI's table of a batch shows: the counts per state, and the first tasks that started. */
export interface ProgressSummary extends Pick<BatchStatus, 'state' | 'budget' | 'questions'> {
  /** Tasks per state, in the order each state first appears in the spec. */
  counts: Map<string, number>;
  /** The first PROGRESS_ROWS tasks that are not pending, in the spec's order. */
  rows: Pick<TaskStatus, 'taskId' | 'status' | 'costUsd' | 'error' | 'summary'>[];
  total: number;
}

export const PROGRESS_ROWS = 40;

/** Markdown shown as the batch's current details in the Web UI. */
export function progressTable(p: ProgressSummary): string {
  const summary = [...p.counts].map(([s, n]) => `${n} ${s}`).join(' · ');
  const rows = p.rows
    .slice(0, PROGRESS_ROWS)
    .map((t) => [mdText(t.taskId, 80), t.status, mdUsd(t.costUsd), mdText(t.error ?? t.summary ?? '')]);
  const more = p.total > PROGRESS_ROWS ? `\n\n…and ${p.total - PROGRESS_ROWS} more` : '';
  const budget = p.budget ? ` · ${mdUsd(p.budget.spentUsd)} of ${mdUsd(p.budget.capUsd)}` : '';
  const questions = (p.questions ?? []).map((q) => questionLine(q, q.askedAt + q.ageMs));
  return (
    [
      `**${p.state}** · ${summary}${budget}`,
      ...(questions.length ? ['', '**Waiting for an answer**', '', ...questions] : []),
      '',
      mdTable(['task', 'status', 'cost', 'note'], rows),
    ].join('\n') + more
  );
}

/** One open question: who asks, what, since when, until when, and the command that answers it. */
function questionLine(q: OpenQuestion, now: number): string {
  const ageMin = Math.max(0, Math.round((now - q.askedAt) / 60_000));
  return `- ${mdText(q.taskId, 80)} asks: ${mdText(q.question)} (asked ${mdTime(q.askedAt)}, ${ageMin} min ago; ${q.onTimeout === 'continue' ? 'goes on with its assumption' : q.onTimeout === 'park' ? 'parks' : 'fails'} at ${mdTime(q.deadline)}). Answer: ${mdCode(q.answerCommand)}`;
}

/** Markdown shown as a task's current details in the Web UI: where it is, what it spent, what it waits for. */
export function taskDetails(status: TaskStatus, now: number): string {
  const head = `**${status.status}** · ${status.turns} turn${status.turns === 1 ? '' : 's'} · ${mdUsd(status.costUsd)}`;
  const lines = [head];
  if (status.activity) lines.push('', mdText(status.activity));
  const questions = status.questions ?? [];
  if (questions.length) lines.push('', '**Waiting for an answer**', '', ...questions.map((q) => questionLine(q, now)));
  if (status.error) lines.push('', `Error: ${mdText(status.error, 600)}`);
  else if (status.summary) lines.push('', mdText(status.summary, 600));
  if (status.workDir) lines.push('', `Work kept in ${mdCode(status.workDir)}`);
  return lines.join('\n');
}
