/**
 * From a goal (or a PRD, or findings) to a reviewed-ready task file: decompose by model
 * when one is configured, else heuristically and say so; write tasks/<date>.yaml and its
 * companion markdown; estimate the night. Used by `nightshift plan` directly and by the
 * `decomposeGoal` activity inside workflows.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type Anthropic from '@anthropic-ai/sdk';
import type { SpecIssue } from '../../common/errors';
import { loadBatchSpec } from '../../taskfile/load';
import { DEFAULTS } from '../../taskfile/defaults';
import type { BatchSpec } from '../../taskfile/types';
import type { SpecRef } from '../../contract';
import { decomposeWithModel, type DecomposeInput, type Planner } from './decompose';
import { estimateNight, loadHistory, type NightEstimate } from './estimate';
import { decomposeHeuristically } from './heuristic';
import type { PlanDraft } from './plan-tool';
import { renderPlanMarkdown, renderPlanText, renderPlanYaml, writePlanFiles, type PlanHeader } from './render';

export interface PlanRequest extends DecomposeInput {
  /** YYYY-MM-DD of the night. */
  date: string;
  /** @default 50 (the task-file default) */
  maxCostUsd?: number;
  /** Put every task in this repository (context.repo). */
  repo?: string;
  /** Task file to write, relative to the root. @default tasks/<date>.yaml */
  out?: string;
  /** Replace a task file nightshift did not write. */
  overwrite?: boolean;
  /** Plan without a model even when one is configured. */
  heuristic?: boolean;
  /** Idempotency key (the workflow ID), recorded in the file. */
  key?: string;
}

export interface PlanResult {
  draft: PlanDraft;
  spec: BatchSpec;
  planner: Planner;
  rejected?: SpecIssue[];
  estimate: NightEstimate;
  files: { yaml: string; markdown: string };
  /** Phases, edges and estimates as text for the terminal. */
  text: string;
}

export function defaultPlanFile(date: string): string {
  return path.join('tasks', `${date}.yaml`);
}

/** Adds the user's choices (repo) to what the planner produced. */
function withRepo(draft: PlanDraft, repo: string | undefined): PlanDraft {
  if (!repo) return draft;
  return { ...draft, tasks: draft.tasks.map((t) => ({ ...t, context: { ...t.context, repo } })) };
}

/** Writes an already decided plan (after interactive edits too) and estimates it. */
export async function savePlan(
  root: string,
  draft: PlanDraft,
  h: PlanHeader,
  o: { out?: string; overwrite?: boolean } = {},
): Promise<Omit<PlanResult, 'planner' | 'rejected'>> {
  const out = o.out ?? defaultPlanFile(h.date);
  const yaml = renderPlanYaml(draft, h);
  // Write, then load through the one loader: what is reported is what `start` will run.
  await writePlanFiles(root, out, yaml, '', o);
  const spec = await loadBatchSpec(out, root);
  const estimate = estimateNight(spec, await loadHistory(root));
  const files = await writePlanFiles(root, out, yaml, renderPlanMarkdown(spec, h, estimate, out), { overwrite: true });
  return { draft, spec, estimate, files, text: renderPlanText(spec, estimate) };
}

/** A plan this key already wrote (a retried activity), so the model is not paid twice. */
async function existingPlan(root: string, out: string, key: string | undefined): Promise<boolean> {
  if (!key) return false;
  const text = await fs.readFile(path.resolve(root, out), 'utf8').catch(() => '');
  return text.split('\n').some((l) => l === `# Plan key: ${key}`);
}

/** What a workflow keeps of a plan: where it was written and what it will cost. */
export interface DecomposeGoalResult {
  /** The task file written, relative to NIGHTSHIFT_ROOT. */
  tasksFile: string;
  markdown: string;
  taskIds: string[];
  planner: Planner;
  estimatedCostUsd: number;
  fitsBudget: boolean;
  /** The night as stored in a shared state store, for a batch on any host. */
  storedSpec?: SpecRef;
}

export function decomposeGoalResult(r: PlanResult): DecomposeGoalResult {
  return {
    tasksFile: r.files.yaml,
    markdown: r.files.markdown,
    taskIds: r.spec.tasks.map((t) => t.id),
    planner: r.planner,
    estimatedCostUsd: r.estimate.costUsd,
    fitsBudget: r.estimate.fits,
  };
}

export async function makePlan(
  root: string,
  anthropic: Anthropic | undefined,
  req: PlanRequest,
  o: { signal?: AbortSignal } = {},
): Promise<PlanResult> {
  const out = req.out ?? defaultPlanFile(req.date);
  const header = (planner: Planner, summary?: string): PlanHeader => ({
    date: req.date,
    maxCostUsd: req.maxCostUsd ?? DEFAULTS.maxCostUsd,
    from: req.goal ?? req.document?.name ?? 'a goal',
    planner,
    summary,
    key: req.key,
  });
  if (await existingPlan(root, out, req.key)) {
    const spec = await loadBatchSpec(out, root);
    const estimate = estimateNight(spec, await loadHistory(root));
    return {
      draft: { tasks: [] },
      spec,
      planner: { kind: 'reused', key: req.key! },
      estimate,
      files: { yaml: out, markdown: out.replace(/\.ya?ml$/i, '') + '.plan.md' },
      text: renderPlanText(spec, estimate),
    };
  }
  const d =
    anthropic && !req.heuristic
      ? await decomposeWithModel(anthropic, req, o)
      : decomposeHeuristically(
          req,
          req.heuristic
            ? 'asked for with --heuristic'
            : 'no model configured: set ANTHROPIC_API_KEY for a model-made plan',
        );
  const draft = withRepo(d.draft, req.repo);
  const saved = await savePlan(root, draft, header(d.planner, d.draft.summary), { out, overwrite: req.overwrite });
  return { ...saved, planner: d.planner, rejected: d.rejected };
}
