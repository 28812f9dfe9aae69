/**
 * Predicted cost and duration of a night, from the history of tasks that ran
 * (results/*.json) by model and complexity. Default hours per complexity (low 1, medium 2.5, high 4)
 * and a token budget per complexity are the prior; each observed task pulls the estimate
 * towards what really happened, so a few odd nights cannot swing it far.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  batchPrice,
  costOf,
  modelIdOf,
  priceOf,
  resolveModel,
  worstCasePrice,
  type Complexity,
} from '../../common/models';
import { batchWaitUntil, simpleModeUsesBatch } from '../../workflows/budget/arithmetic';
import type { BatchSpec, TaskSpec } from '../../taskfile/types';

/** Default hours per complexity, before any history. */
export const PRIOR_HOURS: Record<Complexity, number> = { low: 1, medium: 2.5, high: 4 };

/** Tokens an agent task of each complexity is assumed to use before any history exists. */
export const PRIOR_TOKENS: Record<Complexity, { input: number; output: number }> = {
  low: { input: 300_000, output: 20_000 },
  medium: { input: 1_000_000, output: 60_000 },
  high: { input: 2_500_000, output: 150_000 },
};

/**
 * How an agent task's input tokens are billed with prompt caching: most are read from the
 * cache, the rest written to it (bench:cost measured 84 % read, 16 % written, for a 40-turn
 * task with two long tool calls and elision; see BENCHMARKS.md).
 */
export const PRIOR_CACHE_SHARES = { read: 0.84, write: 0.16 } as const;

/** Simple mode's one call: the prompt and a bounded snapshot of the repo in, the files out. No caching (one request). */
export const PRIOR_SIMPLE_TOKENS = { input: 40_000, output: 4_000 } as const;

/** How many observed tasks the prior is worth. */
const PRIOR_WEIGHT = 2;

/** One task that ran, as results/<date>.json records it. */
export interface HistoryRecord {
  date?: string;
  task: string;
  state: string;
  model?: string;
  complexity?: Complexity;
  role?: string;
  title?: string;
  costUsd: number;
  hours?: number;
  replay?: boolean;
}

/**
 * Agent work that finished and so says how long and how dear a task of its kind is: a
 * model answered it (a `command:` task has no model, and its minutes say nothing about an
 * agent's), it succeeded (a failed or halted task stopped early, so its hours and cost
 * undercount the work), and it ran on a live model (the replay model costs nothing and
 * answers in milliseconds).
 */
export function isFinishedAgentWork(h: HistoryRecord): boolean {
  return h.state === 'succeeded' && h.model !== undefined && !h.replay;
}

/** `claude-sonnet-4-5-20250929` -> `claude-sonnet-4-5`: history is grouped by price-table row. */
export function modelFamily(model: string | undefined): string | undefined {
  if (!model) return undefined;
  const id = resolveModel(model, undefined);
  return modelIdOf(id) ?? id;
}

interface ResultsFile {
  date?: string;
  results?: {
    task: string;
    state?: string;
    status?: string;
    model?: string;
    complexity?: Complexity;
    role?: string;
    title?: string;
    costUsd?: number;
    startedAt?: string;
    endedAt?: string;
    replay?: boolean;
  }[];
}

/** Every task record in `<root>/results/*.json`; files that are not batch results are skipped. */
export async function loadHistory(root: string): Promise<HistoryRecord[]> {
  const dir = path.join(root, 'results');
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const out: HistoryRecord[] = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    let file: ResultsFile;
    try {
      file = JSON.parse(await fs.readFile(path.join(dir, name), 'utf8')) as ResultsFile;
    } catch {
      continue;
    }
    if (!Array.isArray(file.results)) continue;
    for (const r of file.results) {
      const start = r.startedAt ? Date.parse(r.startedAt) : NaN;
      const end = r.endedAt ? Date.parse(r.endedAt) : NaN;
      out.push({
        date: file.date,
        task: r.task,
        state: r.state ?? (r.status === 'success' ? 'succeeded' : (r.status ?? 'unknown')),
        model: r.model,
        complexity: r.complexity,
        role: r.role,
        title: r.title,
        costUsd: r.costUsd ?? 0,
        hours: Number.isFinite(start) && Number.isFinite(end) && end >= start ? (end - start) / 3_600_000 : undefined,
        replay: r.replay,
      });
    }
  }
  return out;
}

export interface TaskEstimate {
  id: string;
  title: string;
  model: string;
  complexity: Complexity;
  costUsd: number;
  hours: number;
  /** Observed tasks behind the cost and the duration. */
  costSamples: number;
  hoursSamples: number;
  dependsOn: string[];
  /** Set when the prediction passes the task's own max_cost_usd. */
  overTaskCap?: boolean;
  /** Simple mode through the Message Batches API, priced at its discount. */
  batch?: boolean;
}

export interface NightEstimate {
  source: string;
  tasks: TaskEstimate[];
  costUsd: number;
  /** Wall-clock hours: the longer of the dependency chain and the work spread over the agents. */
  hours: number;
  budgetUsd: number;
  fits: boolean;
  historyTasks: number;
}

export function priorCost(
  model: string,
  complexity: Complexity,
  mode: { simple?: boolean; batch?: boolean } = {},
): number {
  // The prior is a whole task's tokens over many requests, not one prompt, so a prompt-size tier does not apply.
  const { tiers: _perRequest, ...listed } = priceOf(model) ?? worstCasePrice();
  const base = mode.batch ? batchPrice(listed) : listed;
  if (mode.simple) return costOf({ ...PRIOR_SIMPLE_TOKENS, cacheWrite: 0, cacheRead: 0 }, base);
  const { input, output } = PRIOR_TOKENS[complexity];
  return costOf(
    {
      input: 0,
      output,
      cacheRead: Math.round(input * PRIOR_CACHE_SHARES.read),
      cacheWrite: Math.round(input * PRIOR_CACHE_SHARES.write),
    },
    base,
  );
}

function blend(prior: number, observed: number[]): number {
  return (prior * PRIOR_WEIGHT + observed.reduce((a, b) => a + b, 0)) / (PRIOR_WEIGHT + observed.length);
}

const round = (n: number, d: number) => Math.round(n * 10 ** d) / 10 ** d;

export function estimateTask(task: TaskSpec, history: readonly HistoryRecord[]): TaskEstimate {
  const complexity = task.complexity ?? 'medium';
  const base = { id: task.id, title: task.title, complexity, dependsOn: task.dependsOn };
  if (task.command !== undefined) {
    // Only this task's own earlier command runs are comparable.
    const runs = history
      .filter((h) => h.task === task.id && h.model === undefined && h.hours !== undefined)
      .map((h) => h.hours!);
    const hours = runs.length ? runs.reduce((a, b) => a + b, 0) / runs.length : 0;
    return { ...base, model: 'command', costUsd: 0, hours: round(hours, 2), costSamples: 0, hoursSamples: runs.length };
  }
  const model = resolveModel(task.model, task.complexity);
  const family = modelFamily(model);
  // As the workflow decides it for a task that starts now (workflows/task/simple-task.ts).
  const batch = task.simpleMode === true && simpleModeUsesBatch(task.modelApi, batchWaitUntil(0, task.timeoutMs), 0);
  const ran = history.filter((h) => isFinishedAgentWork(h) && (h.complexity ?? 'medium') === complexity);
  const costs = ran.filter((h) => modelFamily(h.model) === family).map((h) => h.costUsd);
  const hours = ran.filter((h) => h.hours !== undefined).map((h) => h.hours!);
  const costUsd = round(
    blend(priorCost(model, complexity, { simple: task.simpleMode === true, batch }), costs),
    task.simpleMode ? 4 : 2,
  );
  return {
    ...base,
    model,
    costUsd,
    hours: round(blend(PRIOR_HOURS[complexity], hours), 2),
    costSamples: costs.length,
    hoursSamples: hours.length,
    ...(task.maxCostUsd !== undefined && costUsd > task.maxCostUsd ? { overTaskCap: true } : {}),
    ...(batch ? { batch: true } : {}),
  };
}

/** Longest chain of dependent hours through the DAG. */
function criticalPathHours(tasks: readonly TaskEstimate[]): number {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const memo = new Map<string, number>();
  const finish = (id: string, seen: Set<string>): number => {
    if (memo.has(id)) return memo.get(id)!;
    const t = byId.get(id);
    if (!t || seen.has(id)) return 0;
    seen.add(id);
    const v = t.hours + Math.max(0, ...t.dependsOn.map((d) => finish(d, seen)));
    memo.set(id, v);
    return v;
  };
  return Math.max(0, ...tasks.map((t) => finish(t.id, new Set())));
}

export function estimateNight(spec: BatchSpec, history: readonly HistoryRecord[]): NightEstimate {
  const tasks = spec.tasks.map((t) => estimateTask(t, history));
  const costUsd = round(
    tasks.reduce((a, t) => a + t.costUsd, 0),
    2,
  );
  const work = tasks.reduce((a, t) => a + t.hours, 0);
  const hours = round(Math.max(criticalPathHours(tasks), work / spec.maxConcurrentAgents), 2);
  return {
    source: spec.source,
    tasks,
    costUsd,
    hours,
    budgetUsd: spec.maxCostUsd,
    fits: costUsd <= spec.maxCostUsd,
    historyTasks: history.filter(isFinishedAgentWork).length,
  };
}
