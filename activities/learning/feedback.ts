/**
 * The feedback file, read exactly:
 *
 *   # Feedback - 2025-11-18
 *   ## task-002: Pagination Implementation
 *   Rating: 3/5
 *   ✅ what went well          ⚠️  what did not
 *   Action: what to change next time   (becomes a lesson)
 *   ## Orchestrator Performance      - Good: …  - Improve: …
 *   ## Tomorrow's Adjustments        1. …
 *
 * Problems are reported with file, line and what is wrong, all at once.
 */
import { SpecError, type SpecIssue } from '../../common/errors';
import { TASK_ID } from '../../taskfile/schema';

/** A feedback file that does not follow the format; every problem at once, like a task file. */
export class FeedbackInvalid extends SpecError {
  constructor(issues: SpecIssue[]) {
    super(issues);
    this.message = this.message.replace('in the task file', 'in the feedback file');
  }
}

export interface TaskFeedback {
  taskId: string;
  name: string;
  line: number;
  rating?: number;
  outOf?: number;
  /** ✅ lines. */
  good: string[];
  /** ⚠️ lines. */
  issues: string[];
  /** Action: lines. */
  actions: string[];
  /** Anything else written under the task. */
  notes: string[];
}

export interface Feedback {
  file: string;
  date?: string;
  tasks: TaskFeedback[];
  orchestrator: { good: string[]; improve: string[]; notes: string[] };
  tomorrow: string[];
}

const TASK_HEADING = /^##\s+([^:\s]+):\s*(.+?)\s*$/;
const RATING = /^Rating:\s*(.+?)\s*$/i;
const GOOD = /^✅\uFE0F?\s*(.+)$/u;
const WARN = /^⚠\uFE0F?\s*(.+)$/u;
const ACTION = /^Action:\s*(.+)$/i;
const ITEM = /^(?:[-*]|\d+[.)])\s+(.+)$/;

export function parseFeedback(text: string, file: string): Feedback {
  const fb: Feedback = { file, tasks: [], orchestrator: { good: [], improve: [], notes: [] }, tomorrow: [] };
  const issues: SpecIssue[] = [];
  const fileDate = /(\d{4}-\d{2}-\d{2})/.exec(file)?.[1];
  let section:
    { kind: 'task'; task: TaskFeedback } | { kind: 'orchestrator' } | { kind: 'tomorrow' } | { kind: 'none' } = {
    kind: 'none',
  };
  const seen = new Map<string, number>();

  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    const n = i + 1;
    if (!line) return;
    const title = /^#\s+(.+)$/.exec(line);
    if (title) {
      fb.date ??= /(\d{4}-\d{2}-\d{2})/.exec(title[1])?.[1];
      return;
    }
    if (line.startsWith('## ')) {
      const heading = line.slice(3).trim();
      if (/^orchestrator\b/i.test(heading)) section = { kind: 'orchestrator' };
      else if (/^tomorrow/i.test(heading)) section = { kind: 'tomorrow' };
      else {
        const m = TASK_HEADING.exec(line);
        if (!m || !TASK_ID.test(m[1])) {
          issues.push({
            file,
            line: n,
            path: '',
            message: `expected "## task-id: Name", "## Orchestrator Performance" or "## Tomorrow's Adjustments", got "${line}"`,
          });
          section = { kind: 'none' };
          return;
        }
        if (seen.has(m[1]))
          issues.push({
            file,
            line: n,
            path: m[1],
            message: `task ${m[1]} has a section already (line ${seen.get(m[1])})`,
          });
        seen.set(m[1], n);
        const task: TaskFeedback = { taskId: m[1], name: m[2], line: n, good: [], issues: [], actions: [], notes: [] };
        fb.tasks.push(task);
        section = { kind: 'task', task };
      }
      return;
    }
    if (section.kind === 'task') {
      const t = section.task;
      const rating = RATING.exec(line);
      if (rating) {
        const r = /^(\d+)\s*\/\s*(\d+)$/.exec(rating[1]);
        if (!r || Number(r[2]) === 0 || Number(r[1]) > Number(r[2]))
          issues.push({
            file,
            line: n,
            path: `${t.taskId}.rating`,
            message: `must be N/M with N at most M, e.g. 4/5; got "${rating[1]}"`,
          });
        else if (t.rating !== undefined)
          issues.push({ file, line: n, path: `${t.taskId}.rating`, message: 'is given twice' });
        else [t.rating, t.outOf] = [Number(r[1]), Number(r[2])];
        return;
      }
      const m = GOOD.exec(line) ?? undefined;
      if (m) return void t.good.push(m[1].trim());
      const w = WARN.exec(line);
      if (w) return void t.issues.push(w[1].trim());
      const a = ACTION.exec(line);
      if (a) return void t.actions.push(a[1].trim());
      t.notes.push(line);
      return;
    }
    if (section.kind === 'orchestrator') {
      const item = ITEM.exec(line)?.[1] ?? line;
      const kv = /^(Good|Improve):\s*(.+)$/i.exec(item);
      if (kv) (kv[1].toLowerCase() === 'good' ? fb.orchestrator.good : fb.orchestrator.improve).push(kv[2].trim());
      else fb.orchestrator.notes.push(item);
      return;
    }
    if (section.kind === 'tomorrow') {
      fb.tomorrow.push(ITEM.exec(line)?.[1] ?? line);
      return;
    }
    issues.push({ file, line: n, path: '', message: 'text outside any section; start one with "## task-id: Name"' });
  });
  fb.date ??= fileDate;
  if (!fb.date)
    issues.push({
      file,
      line: 1,
      path: 'date',
      message: 'no date: name the file feedback/YYYY-MM-DD.md or start it with "# Feedback - YYYY-MM-DD"',
    });
  if (issues.length) throw new FeedbackInvalid(issues);
  return fb;
}
