/**
 * The activities of improvement loops: the research task each loop starts
 * with, planning its findings into at most five tasks, and the memory step that leaves a
 * short loop summary, which the next loop reads instead of the whole history. The findings
 * and summaries are kept in the state store (kind `improve`, scope: the improvement
 * workflow), so a retry on another host sees what the first attempt kept.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type Anthropic from '@anthropic-ai/sdk';
import { Context } from '@temporalio/activity';
import type { NightshiftConfig } from '../../common/config';
import { FileStateStore, type StateStore } from '../../common/store';
import { parseBatchSpec } from '../../taskfile/load';
import type { TaskSpec } from '../../taskfile/types';
import { makePlan, type DecomposeGoalResult } from './plan';
import { planOnce } from './plan-once';

/** Where the research agent writes its findings, in the repository's workspace. */
export const FINDINGS_FILE = 'FINDINGS.md';
/** At most five tasks per loop. */
export const LOOP_MAX_TASKS = 5;

const slug = (id: string) => id.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100);
export const improveKeys = {
  findings: (loop: number) => `loop-${loop}-findings.md`,
  summary: (loop: number) => `loop-${loop}-summary.md`,
};

/** Where a record is, for people: its file under the root with the `file` store, else the store and key. */
function whereKept(root: string, store: StateStore, workflowId: string, key: string): string {
  if (store instanceof FileStateStore) return path.relative(root, path.join(store.dirFor('improve', workflowId), key));
  return `${store.location} improve/${workflowId}/${key}`;
}

/** Writes `text` unless the key has a value; returns the value kept (the first attempt's, on a retry). */
async function keepOnce(store: StateStore, workflowId: string, key: string, text: string): Promise<string> {
  if (await store.putIfAbsent('improve', workflowId, key, text)) return text;
  return (await store.get('improve', workflowId, key)) ?? text;
}

export interface LoopRef {
  /** The improvement workflow's ID. */
  workflowId: string;
  loop: number;
  repo: string;
  /** The previous loop's summary, if any. */
  previousSummary?: string;
}

/** What one loop's research agent may spend when the loop names no budget. */
export const RESEARCH_MAX_COST_USD = 5;

/** `shared`: the store when it is shared by hosts (not the `file` store), where plans and their nights are kept for any host. */
export function createImproveActivities(deps: {
  config: Pick<NightshiftConfig, 'root'>;
  anthropic: Anthropic | undefined;
  store: StateStore;
  shared: StateStore | undefined;
}) {
  const root = deps.config.root;
  const store = deps.store;
  return {
    /** The loop's research task, through the one task-file schema (defaults included). */
    /** The research agent's task; `maxCostUsd` caps it (it holds no batch allowance). @default RESEARCH_MAX_COST_USD */
    async researchTaskFor(input: LoopRef & { model?: string; maxCostUsd?: number }): Promise<TaskSpec> {
      const spec = parseBatchSpec(
        {
          tasks: [
            {
              id: `research-${input.loop}`,
              title: `Research: what to improve next (loop ${input.loop})`,
              role: 'general',
              description: [
                `Analyse this codebase for the most valuable improvements: bugs, missing tests, unclear code, missing documentation, fragile edges.`,
                `Do not change the code. Write ${FINDINGS_FILE} at the repository root: one "## " section per issue, most valuable first, each with what is wrong, where (files), and how to tell it is fixed (as "- " bullet points). At most ${LOOP_MAX_TASKS} issues.`,
                input.previousSummary
                  ? `The previous loop's summary (do not report again what it fixed; do report what it left failing):\n${input.previousSummary}`
                  : '',
              ]
                .filter(Boolean)
                .join('\n\n'),
              context: { repo: input.repo, branch: `nightshift/improve-research-${input.loop}` },
              deliverables: [FINDINGS_FILE],
              acceptance_criteria: [
                `${FINDINGS_FILE} lists at most ${LOOP_MAX_TASKS} issues, each with files and a check`,
              ],
              estimated_complexity: 'medium',
              agent_config: {
                max_cost_usd: input.maxCostUsd ?? RESEARCH_MAX_COST_USD,
                ...(input.model ? { model: input.model } : {}),
              },
              on_completion: { create_pr: false },
            },
          ],
        },
        'improvement loop',
      );
      return spec.tasks[0];
    },

    /**
     * Plans the findings into at most five tasks (idempotent: the plan is keyed by loop).
     * With a shared store and a `batchId`, the night is stored for the batch (`storedSpec`)
     * and the plan for a retry on another host.
     */
    async planFromFindings(
      input: LoopRef & {
        date: string;
        workDir?: string;
        summary?: string;
        maxCostUsd?: number;
        model?: string;
        batchId?: string;
      },
    ): Promise<DecomposeGoalResult & { findings: string }> {
      const fromFile = input.workDir
        ? await fs.readFile(path.join(input.workDir, FINDINGS_FILE), 'utf8').catch(() => undefined)
        : undefined;
      // A retry on a host without the research workspace plans from what the first attempt kept.
      const findings = (
        await keepOnce(
          store,
          input.workflowId,
          improveKeys.findings(input.loop),
          (fromFile?.trim() || input.summary?.trim() || '(the research agent reported nothing)') + '\n',
        )
      ).trim();
      const key = `${input.workflowId}/loop-${input.loop}`;
      const planned = await planOnce({ shared: deps.shared, key, batchId: input.batchId, root }, () =>
        makePlan(
          root,
          deps.anthropic,
          {
            document: { name: `findings of improvement loop ${input.loop}`, text: findings },
            context: input.previousSummary,
            date: input.date,
            maxCostUsd: input.maxCostUsd,
            maxTasks: LOOP_MAX_TASKS,
            repo: input.repo,
            model: input.model,
            out: path.join('tasks', 'improve', slug(input.workflowId), `loop-${input.loop}.yaml`),
            key,
          },
          { signal: Context.current().cancellationSignal },
        ),
      );
      return { ...planned, findings: findings.slice(0, 4000) };
    },

    /**
     * The memory step: a short summary of the loop (what was found, what each task did,
     * what it cost), kept in the state store (`.nightshift/improve/<id>/loop-N-summary.md`
     * with the `file` store). The next loop reads this, not the history. Insert-if-absent:
     * a retry returns the summary the first attempt kept.
     */
    async writeLoopSummary(
      input: LoopRef & {
        findings: string;
        tasks: { taskId: string; title: string; status: string; summary?: string; error?: string; costUsd: number }[];
      },
    ): Promise<{ file: string; text: string }> {
      const headlines = input.findings
        .split('\n')
        .map((l) => /^##\s+(.+)$/.exec(l.trim())?.[1])
        .filter((h): h is string => Boolean(h));
      const cost = input.tasks.reduce((a, t) => a + t.costUsd, 0);
      const one = (s: string | undefined) => (s ?? '').replace(/\s+/g, ' ').slice(0, 160);
      const text = [
        `# Loop ${input.loop} summary`,
        '',
        `Findings: ${headlines.length ? headlines.join('; ') : one(input.findings)}`,
        '',
        'Tasks:',
        ...input.tasks.map(
          (t) =>
            `- ${t.taskId} ${t.title}: ${t.status}${t.status === 'succeeded' ? (t.summary ? ` (${one(t.summary)})` : '') : t.error ? ` (${one(t.error)})` : ''}`,
        ),
        '',
        `Cost: $${cost.toFixed(2)}. Left for the next loop: ${
          input.tasks
            .filter((t) => t.status !== 'succeeded')
            .map((t) => t.title)
            .join('; ') || 'nothing'
        }.`,
      ].join('\n');
      const key = improveKeys.summary(input.loop);
      const kept = await keepOnce(store, input.workflowId, key, text + '\n');
      return { file: whereKept(root, store, input.workflowId, key), text: kept.trimEnd() };
    },
  };
}
