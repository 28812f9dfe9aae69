/**
 * The morning report: results/<date>-report.md for people (what needs a human first, then
 * every task) and results/<date>.json for scripts (one record per task). Written by the
 * batch when it ends, and by `nightshift report` at any time.
 */
import { constants as fsConstants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { StateStore } from '../../common/store';
import type { NightshiftConfig } from '../../common/config';
import { escapeMarkdownLine as md } from '../../common/markdown';
import { roundUsd } from '../../common/money';
import { redactionNote, workerRedactor, type Redactor } from '../../common/redact';
import { failedDiskQuotaProbes } from '../../sandbox/disk-volume';
import { readStoredTasks } from './results';
import { whileBeating } from '../heartbeat';
import {
  DEFAULT_SCHEDULE_ID,
  type BatchStatus,
  type ResultsRef,
  type SpecRef,
  type ChecksOutcome,
  type InterruptedCall,
  type TaskStatus,
} from '../../contract';
import { findOverlaps } from '../task/delivery/overlaps';
import { reviewCostLine } from '../task/delivery/review-cost';
import { renderChecksJunit } from './report-junit';

const NEEDS_HUMAN: Record<string, string> = {
  failed: 'failed',
  halted: 'halted by the safety policy',
  incomplete: 'ran out of turns',
  waiting_for_answer: 'parked, waiting for an answer',
  paused_budget: 'stopped by the budget',
  cancelled: 'cancelled',
  stuck: 'stopped: no progress',
};

const usd = (n: number) => `$${n.toFixed(2)}`;
const minutes = (t: TaskStatus) =>
  t.startedAt && t.endedAt ? `${((t.endedAt - t.startedAt) / 60_000).toFixed(1)} min` : '-';
function checksLine(c: ChecksOutcome): string {
  const rounds = `${c.fixRounds} fix round${c.fixRounds === 1 ? '' : 's'}`;
  if (c.passed)
    return `passed (${c.results.map((r) => `\`${r.command}\``).join(', ')}${c.fixRounds ? `, after ${rounds}` : ''})`;
  return `FAILING after ${rounds}: ${c.results
    .filter((r) => !r.passed && !r.preExisting)
    .map((r) => `\`${r.command}\` (exit ${r.exitCode})`)
    .join(', ')}`;
}

/** One line per check when the base was checked too: how it did before the agent and after. */
function baseVsResult(c: ChecksOutcome): string[] {
  if (!c.results.some((r) => r.base || r.flaky)) return [];
  const result = (r: ChecksOutcome['results'][number]) =>
    r.flaky
      ? 'flaky (failed, passed on rerun)'
      : r.passed
        ? 'passed'
        : r.preExisting
          ? `failed (exit ${r.exitCode}), pre-existing`
          : `failed (exit ${r.exitCode})`;
  const tests = (t: ChecksOutcome['results'][number]['tests']) =>
    t ? ` [${t.total} tests, ${t.failed} failed, ${t.skipped} skipped]` : '';
  return c.results.map(
    (r) => `  - \`${md(r.command)}\`: base ${r.base ?? 'not run'}${tests(r.baseTests)} → ${result(r)}${tests(r.tests)}`,
  );
}

/** The delivery lines of one task: PR, branch, patch, checks, problems. */
function deliveryLines(t: TaskStatus): string[] {
  return [
    ...(t.prUrl ? [`- pull request: ${t.prUrl}${t.prDraft ? ' (draft)' : ''}`] : []),
    ...(t.branch
      ? [
          `- branch: \`${t.branch}\`${t.commit ? ` at ${t.commit.slice(0, 12)}` : ''}${t.pushed === false ? " (not pushed: in the worker's delivery repository)" : t.pushed ? ' (pushed)' : ''}`,
        ]
      : []),
    ...(t.patchFile ? [`- patch: [${t.patchFile}](${t.patchFile.replace(/^results\//, '')})`] : []),
    ...(t.checks ? [`- checks: ${checksLine(t.checks)}`, ...baseVsResult(t.checks)] : []),
    ...(t.checks?.integrity ?? []).map((f) => `- tests weakened: ${md(f.detail)}`),
    ...(t.filesChanged?.length
      ? [`- files changed: ${t.filesChanged.length}${t.filesChanged.length >= 200 ? ' or more' : ''}`]
      : []),
    ...(t.workDir && !t.branch && t.patchFile ? [`- changes for review in: ${t.workDir}`] : []),
    // No branch and no patch (no repository, nothing committed): the kept workspace is all there is.
    ...(t.workDir && !t.branch && !t.patchFile ? [`- nothing delivered; the work is in: ${t.workDir}`] : []),
    ...(t.reviewCost ? [`- review cost: ${md(reviewCostLine(t.reviewCost))}`] : []),
    ...(t.prCapped
      ? [
          '- no pull request: the repository already had its `max_prs_per_repo` pull requests for the night; the branch and the patch above are the delivery',
        ]
      : []),
    ...(t.deliveryError ? [`- delivery problem: ${md(t.deliveryError)}`] : []),
  ];
}

/**
 * The order a reviewer works in: what needs a human first, then delivered work smallest
 * review first, then the rest as the night ran them.
 */
function reviewOrder(tasks: TaskStatus[]): TaskStatus[] {
  const needs = (t: TaskStatus) => (NEEDS_HUMAN[t.status] || t.deliveryError || t.checks?.integrity?.length ? 0 : 1);
  const size = (t: TaskStatus) => (t.reviewCost ? t.reviewCost.added + t.reviewCost.removed : Number.POSITIVE_INFINITY);
  return tasks
    .map((t, i) => ({ t, i }))
    .sort((a, b) => needs(a.t) - needs(b.t) || size(a.t) - size(b.t) || a.i - b.i)
    .map((x) => x.t);
}

/** Booked for model calls cut off with their cost unknown (already inside the task's cost). */
const interruptedUsd = (t: TaskStatus) => (t.interruptedCalls ?? []).reduce((a, c) => a + c.bookedUsd, 0);
const BASIS: Record<InterruptedCall['basis'], string> = {
  usage: 'its whole answer was seen',
  input_known: 'its input was known; max_tokens of output assumed',
  worst_case: 'nothing was known; its reserved worst case',
};

const tokens = (t: TaskStatus) => t.tokens.input + t.tokens.output + t.tokens.cacheRead + t.tokens.cacheWrite;

export function renderReportMarkdown(s: BatchStatus, budgetUsd?: number): string {
  const spent = s.tasks.reduce((a, t) => a + t.costUsd, 0);
  const attention = s.tasks.filter((t) => NEEDS_HUMAN[t.status]);
  const deliveryTrouble = s.tasks.filter((t) => !NEEDS_HUMAN[t.status] && t.deliveryError);
  const weakened = s.tasks.filter((t) => !NEEDS_HUMAN[t.status] && t.checks?.integrity?.length);
  const overlaps = findOverlaps(s.tasks);
  const ordered = reviewOrder(s.tasks);
  const capped = s.tasks.filter((t) => t.prCapped);
  const count = (st: string) => s.tasks.filter((t) => t.status === st).length;
  const lines = [
    `# nightshift report · ${s.date}`,
    '',
    `Batch \`${s.batchId}\`${s.source ? ` from \`${s.source}\`` : ''} · ${s.state}`,
    `${s.tasks.length} tasks: ${count('succeeded')} succeeded, ${count('failed')} failed, ${count('skipped')} skipped, ${attention.length} need a human.`,
    ...(capped.length
      ? [
          `${capped.length} delivered as a branch and a patch without a pull request (max_prs_per_repo reached): ${capped.map((t) => t.taskId).join(', ')}.`,
        ]
      : []),
    `Cost: ${usd(spent)}${budgetUsd !== undefined ? ` of ${usd(budgetUsd)} (${((spent / budgetUsd) * 100).toFixed(0)} %)` : ''} · tokens: ${s.tasks.reduce((a, t) => a + tokens(t), 0)}`,
    ...(s.tasks.some((t) => t.interruptedCalls?.length)
      ? [
          `Of which ${usd(s.tasks.reduce((a, t) => a + interruptedUsd(t), 0))} was booked for ${s.tasks.reduce((a, t) => a + (t.interruptedCalls?.length ?? 0), 0)} model calls cut off before they answered (a worker died or a call timed out): the API may have billed them, so each counts at what was known of it, else its worst case.`,
        ]
      : []),
    ...(s.tasks.some((t) => t.replay)
      ? [
          '',
          '**Offline replay model:** no live model ran tonight; agent tasks were answered from a recorded transcript (tasks marked "replay" below).',
        ]
      : []),
    '',
    '## Needs a human',
    '',
    ...(attention.length + deliveryTrouble.length + weakened.length
      ? [
          ...attention.map(
            (t) =>
              `- **${t.taskId}** (${t.title}): ${NEEDS_HUMAN[t.status]}${t.error ? ` — ${md(t.error)}` : ''}${t.prUrl ? ` (draft PR: ${t.prUrl})` : ''}`,
          ),
          ...deliveryTrouble.map((t) => `- **${t.taskId}** (${t.title}): delivery problem — ${md(t.deliveryError!)}`),
          ...weakened.map(
            (t) =>
              `- **${t.taskId}** (${t.title}): tests look weakened — ${t.checks!.integrity!.map((f) => md(f.detail)).join('; ')}${t.prUrl ? ` (draft PR: ${t.prUrl})` : ''}`,
          ),
        ]
      : ['Nothing. Every task that ran succeeded.']),
    ...(s.questions?.length
      ? [
          '',
          ...s.questions.map(
            (q) => `- open question from **${q.taskId}**: ${md(q.question)} — answer with \`${q.answerCommand}\``,
          ),
        ]
      : []),
    ...(s.tasks.some((t) => t.assumptions?.length)
      ? [
          '',
          '## Assumptions to check',
          '',
          ...s.tasks.flatMap((t) =>
            (t.assumptions ?? []).map((a) => `- **${t.taskId}** went on without an answer, assuming: ${md(a)}`),
          ),
        ]
      : []),
    ...(s.notes?.length ? ['', '## Notes', '', ...s.notes.map((n) => `- ${md(n)}`)] : []),
    '',
    ...(overlaps.length
      ? [
          '## Changed the same files side by side',
          '',
          ...overlaps.map(
            (o) =>
              `- **${o.tasks[0]}** and **${o.tasks[1]}** both changed ${o.files.map((f) => `\`${f}\``).join(', ')}: expect a conflict when merging their branches`,
          ),
          '',
        ]
      : []),
    '## Tasks',
    '',
    '| task | status | cost | tokens | turns | duration | result |',
    '|---|---|---|---|---|---|---|',
    ...ordered.map(
      (t) =>
        `| ${t.taskId} | ${t.status} | ${usd(t.costUsd)} | ${tokens(t)} | ${t.turns} | ${minutes(t)} | ${md(t.prUrl ?? t.branch ?? t.summary ?? t.error ?? '')} |`,
    ),
    '',
    ...ordered.flatMap((t) => [
      `### ${t.taskId}: ${t.title}`,
      '',
      `- status: ${t.status}`,
      `- cost: ${usd(t.costUsd)} (input ${t.tokens.input}, output ${t.tokens.output}, cache write ${t.tokens.cacheWrite}, cache read ${t.tokens.cacheRead} tokens) over ${t.turns} turns`,
      ...(t.interruptedCalls ?? []).map(
        (c) =>
          `- interrupted model call: turn ${c.turn}, attempt ${c.attempt}, booked ${usd(c.bookedUsd)} (${BASIS[c.basis]})`,
      ),
      `- duration: ${minutes(t)}`,
      ...(t.model ? [`- model: ${t.model}${t.replay ? ' (replay: recorded answers, not a live model)' : ''}`] : []),
      ...deliveryLines(t),
      // Agent-written text renders as text: it cannot forge a heading or hide lines in a comment.
      ...(t.summary ? [`- summary: ${md(t.summary)}`] : []),
      ...(t.error ? [`- reason: ${md(t.error)}`] : []),
      ...(t.question ? [`- unanswered question: ${md(t.question.question)} (answer it, then rerun the task)`] : []),
      ...(t.answeredQuestions ?? []).map(
        (q) =>
          `- asked: ${md(q.question)} — answered${q.by ? ` by ${md(q.by)}` : ''} at ${new Date(q.answeredAt).toISOString()}: ${md(q.answer)}`,
      ),
      ...(t.assumptions ?? []).map((a) => `- assumed (no answer): ${md(a)}`),
      ...(t.notes ?? []).map((n) => `- note: ${md(n)}`),
      '',
    ]),
  ];
  return lines.join('\n');
}

/** The batch results: one record per task (and repo), failures included. */
export function renderReportJson(s: BatchStatus, budgetUsd?: number): string {
  return JSON.stringify(
    {
      batchId: s.batchId,
      date: s.date,
      state: s.state,
      source: s.source,
      budgetUsd,
      costUsd: roundUsd(s.tasks.reduce((a, t) => a + t.costUsd, 0)),
      results: s.tasks.map((t) => ({
        task: t.taskId,
        title: t.title,
        repo: t.repo,
        status: t.status === 'succeeded' ? 'success' : t.status,
        state: t.status,
        message: t.error ?? t.summary ?? '',
        costUsd: t.costUsd,
        interruptedCalls: t.interruptedCalls,
        tokens: t.tokens,
        turns: t.turns,
        model: t.model,
        complexity: t.complexity,
        role: t.role,
        replay: t.replay || undefined,
        startedAt: t.startedAt ? new Date(t.startedAt).toISOString() : undefined,
        endedAt: t.endedAt ? new Date(t.endedAt).toISOString() : undefined,
        branch: t.branch,
        commit: t.commit,
        pushed: t.pushed,
        prUrl: t.prUrl,
        assumptions: t.assumptions,
        answeredQuestions: t.answeredQuestions,
        notes: t.notes,
        prNumber: t.prNumber,
        prDraft: t.prDraft,
        patchFile: t.patchFile,
        checks: t.checks,
        filesChanged: t.filesChanged,
        reviewCost: t.reviewCost,
        prCapped: t.prCapped,
        workDir: t.workDir,
        deliveryError: t.deliveryError,
      })),
      notes: s.notes,
      overlaps: findOverlaps(s.tasks),
    },
    null,
    2,
  );
}

/**
 * `results/<date>` for the night's default batch and for the default schedule's nights,
 * `results/<date>-<schedule>` for another schedule's, `results/<batchId>` for any other.
 */
export function reportBaseName(s: Pick<BatchStatus, 'batchId' | 'date' | 'scheduleId'>): string {
  const safe = (v: string) => v.replace(/[^A-Za-z0-9._-]/g, '_');
  if (s.scheduleId) return s.scheduleId === DEFAULT_SCHEDULE_ID ? s.date : `${s.date}-${safe(s.scheduleId)}`;
  return s.batchId === `nightshift-${s.date}` ? s.date : safe(s.batchId);
}

/** The biggest patch the report looks into for a redaction mark. */
const MAX_PATCH_SCAN_BYTES = 64 * 1024 * 1024;

/** Whether the worker's patch file holds a redaction mark; read without following links or blocking. */
async function patchWasRedacted(root: string, patchFile: string): Promise<boolean> {
  const abs = path.resolve(root, patchFile);
  if (!abs.startsWith(path.join(path.resolve(root), 'results') + path.sep)) return false;
  let fh;
  try {
    fh = await fs.open(abs, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch {
    return false;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size > MAX_PATCH_SCAN_BYTES) return false;
    return (await fh.readFile()).includes('[REDACTED: ');
  } finally {
    await fh.close();
  }
}

/**
 * The status with every secret-shaped value redacted, and a note on each task (or the
 * batch) it was found in; the patch files were redacted as they were written.
 */
export async function redactStatus(root: string, s: BatchStatus, redactor: Redactor): Promise<BatchStatus> {
  const tasks = [];
  for (const t of s.tasks) {
    const r = redactor.redactDeep(t);
    const notes = r.found.length ? [redactionNote(r.found, "this task's text")] : [];
    if (t.patchFile && (await patchWasRedacted(root, t.patchFile)))
      notes.push(redactionNote([], `the patch file (${t.patchFile})`));
    tasks.push(notes.length ? { ...r.value, notes: [...(r.value.notes ?? []), ...notes] } : r.value);
  }
  const { tasks: _, ...rest } = s;
  const batch = redactor.redactDeep(rest);
  return {
    ...batch.value,
    tasks,
    notes: batch.found.length
      ? [...(batch.value.notes ?? []), redactionNote(batch.found, 'the batch notes')]
      : batch.value.notes,
  };
}

/** The report's files, relative to NIGHTSHIFT_ROOT. */
export interface ReportFiles {
  markdown: string;
  json: string;
  /** The checks of every task as JUnit XML (activities/night/report-junit.ts). */
  junit: string;
}

/**
 * Writes the report files under `<root>/results/`; `keep` also gets each file's name and text
 * (a shared state store, so the report outlives this worker's host).
 */
export async function writeReportFiles(
  root: string,
  status: BatchStatus,
  budgetUsd?: number,
  redactor: Redactor = workerRedactor(),
  keep?: (name: string, text: string) => Promise<void>,
): Promise<ReportFiles> {
  const s = await redactStatus(root, status, redactor);
  const dir = path.join(root, 'results');
  await fs.mkdir(dir, { recursive: true });
  const base = reportBaseName(s);
  const markdown = path.join(dir, `${base}-report.md`);
  const json = path.join(dir, `${base}.json`);
  const junit = path.join(dir, `${base}.junit.xml`);
  // Whole-file writes of a pure rendering: a retried activity writes the same bytes.
  const markdownText = renderReportMarkdown(s, budgetUsd);
  const jsonText = renderReportJson(s, budgetUsd) + '\n';
  await fs.writeFile(markdown, markdownText);
  await fs.writeFile(json, jsonText);
  const junitText = renderChecksJunit(s);
  await fs.writeFile(junit, junitText);
  if (keep) {
    await keep(path.basename(markdown), markdownText);
    await keep(path.basename(json), jsonText);
    await keep(path.basename(junit), junitText);
  }
  return {
    markdown: path.relative(root, markdown),
    json: path.relative(root, json),
    junit: path.relative(root, junit),
  };
}

export function createReportActivities(
  config: Pick<NightshiftConfig, 'root'> & Partial<Pick<NightshiftConfig, 'anthropic' | 'github' | 'e2b' | 'notify'>>,
  store?: StateStore,
) {
  async function writeReport(input: { status: BatchStatus; budgetUsd?: number }): Promise<ReportFiles> {
    // A worker that could not bound its sandboxes' disks says so where the user looks.
    const unbounded = await failedDiskQuotaProbes();
    const status = unbounded.length
      ? { ...input.status, notes: [...(input.status.notes ?? []), ...unbounded] }
      : input.status;
    // The file store's copy would be the same files twice on one disk; a shared store keeps them past this host.
    const keep =
      store && !store.hostLocal
        ? (name: string, text: string) =>
            store.put('results', input.status.batchId, name.replace(/[^A-Za-z0-9._-]/g, '_'), text)
        : undefined;
    return writeReportFiles(config.root, status, input.budgetUsd, workerRedactor(config), keep);
  }
  return {
    writeReport,

    /**
     * The report of a night whose results are in the state store (BATCH_RESULTS_BY_REFERENCE_PATCH):
     * `status` comes without its tasks, which are read from the store in the spec's order.
     */
    async writeStoredReport(input: {
      status: BatchStatus;
      budgetUsd?: number;
      spec: SpecRef;
      results: ResultsRef;
    }): Promise<ReportFiles> {
      if (!store) throw new Error("this worker has no state store to read the night's results from");
      return whileBeating(async () =>
        writeReport({
          status: { ...input.status, tasks: await readStoredTasks(store, input.spec, input.results) },
          budgetUsd: input.budgetUsd,
        }),
      );
    },
  };
}
