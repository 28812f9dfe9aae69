/** The pull request's text: what a reviewer needs without opening the transcript. */
import { escapeMarkdownLine, quoteAgentText } from '../../../common/markdown';
import type { AnsweredQuestion, CheckResult, ChecksOutcome, ReviewCost, TokenUsage } from '../../../contract';
import type { DependencyBranch } from '../../../workflows/task/messages';
import { reviewCostLine } from './review-cost';

export interface PrContent {
  workflowId: string;
  taskId: string;
  title: string;
  description: string;
  acceptanceCriteria: string[];
  /** The agent's finish summary (with how it checked). */
  summary?: string;
  /** The task's final status and why, when it is not plain success. */
  status: string;
  error?: string;
  checks?: ChecksOutcome;
  costUsd: number;
  tokens: TokenUsage;
  turns: number;
  model?: string;
  dependencies: DependencyBranch[];
  /** How the PR relates to its dependencies: stacked on one, or against the base. */
  stackedOn?: string;
  /** What the agent assumed when a question of its timed out unanswered. */
  assumptions?: string[];
  /** Questions a person answered, with the answers the agent went on with. */
  answeredQuestions?: AnsweredQuestion[];
  /** Budget warnings and other things a reviewer should know. */
  notes?: string[];
  reviewCost?: ReviewCost;
}

/** Label added while the checks fail, and removed once they pass. */
export const FAILING_CHECKS_LABEL = 'nightshift: checks failing';

const cap = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const fence = (s: string) => '```\n' + s.replace(/```/g, "'''") + '\n```';

export function prTitle(c: Pick<PrContent, 'taskId' | 'title' | 'status' | 'checks'>): string {
  const failing =
    c.checks && !c.checks.passed
      ? '[checks failing] '
      : c.checks?.integrity?.length
        ? '[tests weakened] '
        : c.status === 'incomplete'
          ? '[incomplete] '
          : c.status === 'stuck'
            ? '[stuck] '
            : '';
  return cap(`${failing}${c.title} (nightshift ${c.taskId})`, 250);
}

const counts = (t: CheckResult['tests']) => (t ? ` · ${t.total} tests, ${t.failed} failed, ${t.skipped} skipped` : '');
const baseCell = (r: CheckResult) =>
  (r.base === 'passed'
    ? '✅ passed'
    : r.base === 'flaky'
      ? '⚠️ flaky'
      : r.base === 'failed'
        ? '❌ failed'
        : 'not run') + counts(r.baseTests);
const resultCell = (r: CheckResult) =>
  (r.flaky
    ? '⚠️ flaky (failed, then passed on a rerun of the same tree)'
    : r.passed
      ? '✅ passed'
      : `❌ exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}${r.preExisting ? ' — pre-existing: it failed on the base too' : ''}`) +
  counts(r.tests);

/** Signs the tests were weakened: first in the body, before anything else a reviewer reads. */
function integritySection(checks: ChecksOutcome | undefined): string[] {
  if (!checks?.integrity?.length) return [];
  return [
    '',
    '## ⚠️ Tests look weakened',
    '',
    'The agent was told and given a round to fix this; it still shows, so this PR is a draft for a person to judge:',
    '',
    ...checks.integrity.map((f) => `- ${escapeMarkdownLine(cap(f.detail, 500))}`),
  ];
}

function checksSection(checks: ChecksOutcome | undefined): string[] {
  if (!checks)
    return ['No checks were configured (`checks:` in the task file), so nothing but the agent itself checked this.'];
  const based = checks.results.some((r) => r.base);
  const rows = checks.results.map(
    (r) => `| \`${r.command.replace(/\|/g, '\\|')}\` |${based ? ` ${baseCell(r)} |` : ''} ${resultCell(r)} |`,
  );
  const failing = checks.results.filter((r) => !r.passed || r.flaky);
  return [
    checks.passed && checks.results.some((r) => r.preExisting)
      ? `The checks that fail here failed on the base too, before the agent changed anything: not this PR's failure.`
      : checks.passed
        ? `All checks passed${checks.fixRounds ? ` after ${checks.fixRounds} fix round${checks.fixRounds === 1 ? '' : 's'}` : ''}.`
        : `**Checks still fail after ${checks.fixRounds} fix round${checks.fixRounds === 1 ? '' : 's'}**: this PR is a draft until a person looks at it.`,
    '',
    ...(based
      ? ['| command | base (before the agent) | result |', '|---|---|---|']
      : ['| command | result |', '|---|---|']),
    ...rows,
    ...failing.flatMap((r) => [
      '',
      `<details><summary>output of <code>${r.command.replace(/</g, '&lt;')}</code> (end)</summary>`,
      '',
      fence(r.outputTail),
      '',
      '</details>',
    ]),
  ];
}

/** `2026-11-21 03:14 UTC`: a reviewer reads when, not milliseconds. */
const utc = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

function answeredSection(qs: AnsweredQuestion[] | undefined): string[] {
  if (!qs?.length) return [];
  return [
    '## Questions and answers',
    '',
    'The agent asked a person and went on with the answer:',
    '',
    ...qs.flatMap((q) => [
      `- **Q:** ${escapeMarkdownLine(cap(q.question, 1000))}`,
      `  **A:** ${escapeMarkdownLine(cap(q.answer, 2000))} _(${q.by ? `${escapeMarkdownLine(q.by)}, ` : ''}${utc(q.answeredAt)})_`,
    ]),
    '',
  ];
}

export function prBody(c: PrContent): string {
  const tokens = c.tokens.input + c.tokens.output + c.tokens.cacheRead + c.tokens.cacheWrite;
  const deps = c.dependencies.map((d) => `\`${d.taskId}\` (${d.prUrl ? `${d.prUrl}, ` : ''}branch \`${d.branch}\`)`);
  // The checks come first: nothing the agent wrote below can stand in for them.
  return [
    `Opened by nightshift for task \`${c.taskId}\`.`,
    ...integritySection(c.checks),
    ...(c.reviewCost ? ['', `**Review cost:** ${escapeMarkdownLine(reviewCostLine(c.reviewCost))}`] : []),
    ...(c.status !== 'succeeded'
      ? ['', `**Status: ${c.status}**${c.error ? ` — ${escapeMarkdownLine(cap(c.error, 1000))}` : ''}`]
      : []),
    '',
    '## Checks',
    '',
    ...checksSection(c.checks),
    '',
    '## Task',
    '',
    cap(c.description.trim() || c.title, 4000),
    ...(c.acceptanceCriteria.length ? ['', 'Acceptance criteria:', ...c.acceptanceCriteria.map((a) => `- ${a}`)] : []),
    '',
    '## What the agent did',
    '',
    ...(c.summary
      ? [
          "_In the agent's words (quoted as written; nightshift did not check it):_",
          '',
          quoteAgentText(cap(c.summary, 6000)),
        ]
      : ['_The agent left no summary._']),
    '',
    '## Cost',
    '',
    `$${c.costUsd.toFixed(4)} · ${tokens} tokens (input ${c.tokens.input}, output ${c.tokens.output}, cache write ${c.tokens.cacheWrite}, cache read ${c.tokens.cacheRead}) · ${c.turns} turns${c.model ? ` · ${c.model}` : ''}`,
    '',
    ...answeredSection(c.answeredQuestions),
    ...(c.assumptions?.length
      ? [
          '## Questions nobody answered',
          '',
          'The agent asked and went on when no answer came, assuming:',
          ...c.assumptions.map((a) => `- ${escapeMarkdownLine(cap(a, 1000))}`),
          '',
        ]
      : []),
    '## Notes',
    '',
    ...(c.notes ?? []).map((n) => `- ${escapeMarkdownLine(cap(n, 1000))}`),
    ...(deps.length === 0
      ? []
      : c.stackedOn
        ? [`- Stacked on ${deps[0]}: merge that first; this PR shows only this task's changes.`]
        : [
            `- Builds on ${deps.join(' and ')}; it targets the base branch, so their changes show here too until they are merged.`,
          ]),
    '- The agent worked in a sandbox under the safety policy (no git writes, no migrations, no deletes outside the workspace, network only as allowed); the commit and push were made by the orchestrator.',
    `- Workflow \`${c.workflowId}\`: its transcript and history show every step.`,
    '',
    `<!-- nightshift:${c.workflowId} -->`,
  ].join('\n');
}
