/**
 * Interactive planning sessions (seed 002): a plan that is discussed and edited (add,
 * remove, split, modify) before it is approved and started. Sessions are saved under
 * `.nightshift/plans/<id>.json` after every change, so `nightshift plan continue ID`
 * resumes exactly where the last one stopped. The edits are pure functions over the plan;
 * each is checked like a plan from the model, so no edit can leave a cycle or a dangling
 * dependency behind.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { stateDir } from '../../common/config';
import { formatSpecIssue } from '../../common/errors';
import type { Complexity } from '../../common/models';
import { asList } from '../../spec/schema';
import type { Planner } from './decompose';
import { checkPlan, type PlanDraft, type PlannedTask } from './plan-tool';

export interface PlanSession {
  id: string;
  createdAt: string;
  updatedAt: string;
  /** The goal or document the plan came from. */
  from: string;
  date: string;
  maxCostUsd: number;
  /** Task file the plan is written to, relative to the root. */
  out: string;
  repo?: string;
  planner: Planner;
  draft: PlanDraft;
  state: 'draft' | 'approved' | 'started';
  batchId?: string;
  /** What was done to the plan, one line per edit. */
  log: string[];
}

/** Sessions accept far more tasks than one decomposition produces. */
const MAX_SESSION_TASKS = 200;

export class PlanEditError extends Error {}

function sessionsDir(root: string): string {
  return path.join(stateDir({ root }), 'plans');
}

const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export async function saveSession(root: string, s: PlanSession): Promise<void> {
  await fs.mkdir(sessionsDir(root), { recursive: true });
  const file = path.join(sessionsDir(root), `${s.id}.json`);
  await fs.writeFile(`${file}.tmp`, JSON.stringify({ ...s, updatedAt: new Date().toISOString() }, null, 2));
  await fs.rename(`${file}.tmp`, file);
}

export async function loadSession(root: string, id: string): Promise<PlanSession | undefined> {
  if (!SESSION_ID.test(id)) return undefined;
  const text = await fs.readFile(path.join(sessionsDir(root), `${id}.json`), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as PlanSession);
}

export async function listSessions(root: string): Promise<PlanSession[]> {
  const names = await fs.readdir(sessionsDir(root)).catch(() => [] as string[]);
  const out: PlanSession[] = [];
  for (const n of names.filter((f) => f.endsWith('.json'))) {
    const s = await loadSession(root, n.slice(0, -5));
    if (s) out.push(s);
  }
  return out.sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : -1));
}

/** `2026-11-21-build-a-rest-api`, with `-2`, `-3` … when taken. */
export async function newSessionId(root: string, date: string, from: string): Promise<string> {
  const base = `${date}-${from.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 30) || 'plan'}`;
  for (let n = 1; ; n++) {
    const id = n === 1 ? base : `${base}-${n}`;
    if (!(await loadSession(root, id))) return id;
  }
}

/** Applies an edit only if the result is still a valid plan. */
function checked(draft: PlanDraft): PlanDraft {
  const r = checkPlan(draft, { maxTasks: MAX_SESSION_TASKS, source: 'plan' });
  if (!r.spec) throw new PlanEditError(r.issues.map(formatSpecIssue).join('\n'));
  return draft;
}

function find(draft: PlanDraft, id: string): PlannedTask {
  const t = draft.tasks.find((x) => x.id === id);
  if (!t) throw new PlanEditError(`no task "${id}"; the plan has ${draft.tasks.map((x) => x.id).join(', ')}`);
  return t;
}

function nextId(draft: PlanDraft): string {
  const nums = draft.tasks.map((t) => /^task-(\d+)$/.exec(t.id)?.[1]).filter(Boolean).map(Number);
  return `task-${String(Math.max(0, ...nums) + 1).padStart(3, '0')}`;
}

export interface NewTask {
  title: string;
  description?: string;
  role?: string;
  complexity?: Complexity;
  dependsOn?: string[];
}

export function addTask(draft: PlanDraft, t: NewTask): { draft: PlanDraft; id: string } {
  const id = nextId(draft);
  const task: PlannedTask = {
    id,
    title: t.title,
    description: t.description ?? t.title,
    ...(t.role ? { role: t.role } : {}),
    depends_on: t.dependsOn ?? [],
    estimated_complexity: t.complexity ?? 'medium',
    acceptance_criteria: [],
    deliverables: [],
  };
  return { draft: checked({ ...draft, tasks: [...draft.tasks, task] }), id };
}

/** Removes a task; tasks that depended on it inherit its dependencies, so order is kept. */
export function removeTask(draft: PlanDraft, id: string): PlanDraft {
  const gone = find(draft, id);
  const inherited = asList(gone.depends_on);
  const tasks = draft.tasks
    .filter((t) => t.id !== id)
    .map((t) => {
      const deps = asList(t.depends_on);
      if (!deps.includes(id)) return t;
      return { ...t, depends_on: [...new Set(deps.flatMap((d) => (d === id ? inherited : [d])))] };
    });
  return checked({ ...draft, tasks });
}

/**
 * Splits a task into parts that run side by side: each keeps the task's dependencies and
 * settings, and whatever depended on the task now depends on every part.
 */
export function splitTask(draft: PlanDraft, id: string, titles: string[]): { draft: PlanDraft; ids: string[] } {
  const orig = find(draft, id);
  if (titles.length < 2) throw new PlanEditError('split needs at least two parts, e.g. split task-003 Components | Styles');
  const ids = titles.map((_, i) => `${id}${String.fromCharCode(97 + i)}`);
  const parts: PlannedTask[] = titles.map((title, i) => ({ ...orig, id: ids[i], title, description: `${title} (part ${i + 1} of ${titles.length} of: ${orig.title}). ${orig.description ?? ''}`.trim() }));
  const tasks = draft.tasks.flatMap((t) => {
    if (t.id === id) return parts;
    const deps = asList(t.depends_on);
    return deps.includes(id) ? [{ ...t, depends_on: deps.flatMap((d) => (d === id ? ids : [d])) }] : [t];
  });
  return { draft: checked({ ...draft, tasks }), ids };
}

export const EDITABLE_FIELDS = ['title', 'description', 'role', 'complexity', 'depends_on', 'criteria', 'deliverables'] as const;
export type EditableField = (typeof EDITABLE_FIELDS)[number];

/** `set task-002 depends_on task-001, task-004`; lists are comma-separated, an empty value clears. */
export function modifyTask(draft: PlanDraft, id: string, field: string, value: string): PlanDraft {
  find(draft, id);
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  const patch: Partial<Record<keyof PlannedTask, unknown>> = {};
  switch (field as EditableField) {
    case 'title':
    case 'description':
    case 'role':
      patch[field as 'title'] = value.trim();
      break;
    case 'complexity':
      patch.estimated_complexity = value.trim();
      break;
    case 'depends_on':
      patch.depends_on = list;
      break;
    case 'criteria':
      patch.acceptance_criteria = list;
      break;
    case 'deliverables':
      patch.deliverables = list;
      break;
    default:
      throw new PlanEditError(`unknown field "${field}"; use one of ${EDITABLE_FIELDS.join(', ')}`);
  }
  return checked({ ...draft, tasks: draft.tasks.map((t) => (t.id === id ? ({ ...t, ...patch } as PlannedTask) : t)) });
}
