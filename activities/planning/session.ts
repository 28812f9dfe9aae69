/**
 * Interactive planning sessions: a plan that is discussed and edited (add,
 * remove, split, modify) before it is approved and started. Sessions are saved in the state
 * store after every change, so `nightshift plan continue ID` resumes exactly where the last
 * one stopped, on any machine with the same NIGHTSHIFT_STORE. The edits are pure functions
 * over the plan; each is checked like a plan from the model, so no edit can leave a cycle or
 * a dangling dependency behind.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { stateDir } from '../../common/config';
import { formatSpecIssue } from '../../common/errors';
import type { Complexity } from '../../common/models';
import type { StateStore } from '../../common/store';
import { didYouMeanSuffix } from '../../common/suggest';
import { asList } from '../../taskfile/schema';
import type { Planner } from './decompose';
import { checkPlan, type PlanDraft, type PlannedTask } from './plan-tool';

export interface PlanSession {
  id: string;
  /**
   * How many times it was saved: each save writes the next version insert-if-absent, so of
   * two people editing one session at once the second is told instead of undoing the first.
   */
  version: number;
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

/** A host's root (the task files a session writes) and the store its sessions are in. */
export interface SessionPlace {
  root: string;
  store: StateStore;
}

/** Sessions accept far more tasks than one decomposition produces. */
const MAX_SESSION_TASKS = 200;

export class PlanEditError extends Error {}

/** Another save of the session came first (someone else is editing it). */
export class PlanSessionChanged extends PlanEditError {}

const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Every session's versions are records `<id>.v000001.json`, … under kind `plans`, this scope. */
export const SESSION_SCOPE = 'sessions';
const versionKey = (id: string, version: number) => `${id}.v${String(version).padStart(6, '0')}.json`;
/** The last `.vNNNNNN.json` is the version: an id may itself hold dots. */
const VERSION_KEY = /^(.+)\.v(\d{6,})\.json$/;

/** Where sessions were before the store, `.nightshift/plans/<id>.json`: moved in when first read. */
const legacyDir = (root: string) => path.join(stateDir({ root }), 'plans');

async function migrateLegacySession(place: SessionPlace, id: string): Promise<void> {
  const file = path.join(legacyDir(place.root), `${id}.json`);
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  // Insert-if-absent: a second migration (or a session of that id made elsewhere first) changes nothing.
  await place.store.putIfAbsent(
    'plans',
    SESSION_SCOPE,
    versionKey(id, 1),
    JSON.stringify({ ...(JSON.parse(text) as object), version: 1 }, null, 2),
  );
  await fs.rename(file, `${file}.migrated`);
}

/**
 * Saves `s` as its next version and returns it as saved.
 * @throws PlanSessionChanged when another save of that version came first.
 */
export async function saveSession(place: SessionPlace, s: PlanSession): Promise<PlanSession> {
  const saved: PlanSession = { ...s, version: s.version + 1, updatedAt: new Date().toISOString() };
  if (
    !(await place.store.putIfAbsent(
      'plans',
      SESSION_SCOPE,
      versionKey(s.id, saved.version),
      JSON.stringify(saved, null, 2),
    ))
  ) {
    throw new PlanSessionChanged(
      `session ${s.id} was changed elsewhere (it is past version ${s.version}); resume it again with nightshift plan continue ${s.id}`,
    );
  }
  return saved;
}

async function latestVersion(place: SessionPlace, id: string): Promise<number | undefined> {
  const versions = (await place.store.list('plans', SESSION_SCOPE, `${id}.v`))
    .map((k) => VERSION_KEY.exec(k))
    .filter((m) => m?.[1] === id)
    .map((m) => Number(m![2]));
  return versions.length ? Math.max(...versions) : undefined;
}

export async function loadSession(place: SessionPlace, id: string): Promise<PlanSession | undefined> {
  if (!SESSION_ID.test(id)) return undefined;
  await migrateLegacySession(place, id);
  const version = await latestVersion(place, id);
  if (version === undefined) return undefined;
  const text = await place.store.get('plans', SESSION_SCOPE, versionKey(id, version));
  return text === undefined ? undefined : { ...(JSON.parse(text) as PlanSession), version };
}

export async function listSessions(place: SessionPlace): Promise<PlanSession[]> {
  const legacy = await fs.readdir(legacyDir(place.root)).catch(() => [] as string[]);
  for (const n of legacy.filter((f) => f.endsWith('.json') && SESSION_ID.test(f.slice(0, -5))))
    await migrateLegacySession(place, n.slice(0, -5));
  const ids = new Set(
    (await place.store.list('plans', SESSION_SCOPE))
      .map((k) => VERSION_KEY.exec(k)?.[1])
      .filter((id): id is string => id !== undefined),
  );
  const out: PlanSession[] = [];
  for (const id of ids) {
    const s = await loadSession(place, id);
    if (s) out.push(s);
  }
  return out.sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : -1));
}

/** `2026-11-21-build-a-rest-api`, with `-2`, `-3` … when taken. */
export async function newSessionId(place: SessionPlace, date: string, from: string): Promise<string> {
  const base = `${date}-${
    from
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 30) || 'plan'
  }`;
  for (let n = 1; ; n++) {
    const id = n === 1 ? base : `${base}-${n}`;
    if (!(await loadSession(place, id))) return id;
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
  const nums = draft.tasks
    .map((t) => /^task-(\d+)$/.exec(t.id)?.[1])
    .filter(Boolean)
    .map(Number);
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
  if (titles.length < 2)
    throw new PlanEditError('split needs at least two parts, e.g. split task-003 Components | Styles');
  const ids = titles.map((_, i) => `${id}${String.fromCharCode(97 + i)}`);
  const parts: PlannedTask[] = titles.map((title, i) => ({
    ...orig,
    id: ids[i],
    title,
    description: `${title} (part ${i + 1} of ${titles.length} of: ${orig.title}). ${orig.description ?? ''}`.trim(),
  }));
  const tasks = draft.tasks.flatMap((t) => {
    if (t.id === id) return parts;
    const deps = asList(t.depends_on);
    return deps.includes(id) ? [{ ...t, depends_on: deps.flatMap((d) => (d === id ? ids : [d])) }] : [t];
  });
  return { draft: checked({ ...draft, tasks }), ids };
}

export const EDITABLE_FIELDS = [
  'title',
  'description',
  'role',
  'complexity',
  'depends_on',
  'criteria',
  'deliverables',
] as const;
export type EditableField = (typeof EDITABLE_FIELDS)[number];

/** `set task-002 depends_on task-001, task-004`; lists are comma-separated, an empty value clears. */
export function modifyTask(draft: PlanDraft, id: string, field: string, value: string): PlanDraft {
  find(draft, id);
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
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
      throw new PlanEditError(
        `unknown field "${field}"${didYouMeanSuffix(field, EDITABLE_FIELDS)}; use one of ${EDITABLE_FIELDS.join(', ')}`,
      );
  }
  return checked({ ...draft, tasks: draft.tasks.map((t) => (t.id === id ? ({ ...t, ...patch } as PlannedTask) : t)) });
}
