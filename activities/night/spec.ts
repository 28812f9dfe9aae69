/**
 * Loading and validating the night's task file happens here, outside the workflow sandbox.
 *
 * The normalized spec is kept in the state store under the batch ID and its content hash;
 * the workflow's history holds that key and reads the spec back in parts, each well inside
 * Temporal's payload limit, so a night of 10,000 tasks fits (a whole spec in one payload
 * passed the 2 MiB limit at about 4,000 tasks).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SpecError } from '../../common/errors';
import { EFFORT_FOR_COMPLEXITY, resolveModel } from '../../common/models';
import type { NightshiftConfig } from '../../common/config';
import type { StateStore } from '../../common/store';
import { loadBatchSpec, parseBatchSpecIn } from '../../taskfile/load';
import { normalizeBatch } from '../../taskfile/normalize';
import { claimPendingFiles, settleClaimedFiles } from '../intake/folders';
import { readSkill } from '../learning/skills';
import { lessonsText } from '../learning/store';
import type { BatchSpec, TaskSpec } from '../../taskfile/types';
import type { BatchSpecHeader, TaskIndexEntry } from '../../workflows/night/messages';
import type { SpecRef } from '../../contract';

/** The daily cap is the operator's (environment) and the file's together: the lower one holds. */
function withDailyCap(spec: BatchSpec, envCap: number | undefined): BatchSpec {
  const caps = [spec.dailyMaxCostUsd, envCap].filter((c): c is number => c !== undefined);
  return caps.length ? { ...spec, dailyMaxCostUsd: Math.min(...caps) } : spec;
}

/**
 * Agent tasks get the model ID their alias or complexity names here (and the effort their
 * complexity calls for, unless they set one), where the worker's
 * NIGHTSHIFT_MODELS_FILE is in force; the workflow sandbox only knows the shipped aliases.
 */
function withModelIds(spec: BatchSpec): BatchSpec {
  return {
    ...spec,
    tasks: spec.tasks.map((t) =>
      t.command !== undefined
        ? t
        : {
            ...t,
            model: resolveModel(t.model, t.complexity),
            effort: t.effort ?? EFFORT_FOR_COMPLEXITY[t.complexity ?? 'medium'],
          },
    ),
  };
}

/** Characters of JSON per part: under the SDK's 512 KiB payload warning, a quarter of the 2 MiB limit. */
export const SPEC_PART_CHARS = 480 * 1024;

export const specKeys = {
  /** What `nightshift start` validated, before the worker's model table and daily cap apply. */
  validated: (hash: string) => `validated-${hash}.json`,
  header: (hash: string) => `normalized-${hash}.json`,
  tasks: (hash: string, part: number) => `normalized-${hash}.tasks-${String(part).padStart(5, '0')}.json`,
  index: (hash: string, part: number) => `normalized-${hash}.index-${String(part).padStart(5, '0')}.json`,
};

export function contentHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

/** What the batch workflow schedules a task by (TaskIndexEntry), without its index. */
function indexEntry(t: TaskSpec): Omit<TaskIndexEntry, 'index'> {
  const { id, title, dependsOn, priority, repo, repoName, complexity, role, fanOut } = t;
  return {
    id,
    title,
    dependsOn,
    priority,
    ...(repo !== undefined ? { repo } : {}),
    ...(repoName !== undefined ? { repoName } : {}),
    ...(complexity !== undefined ? { complexity } : {}),
    ...(role !== undefined ? { role } : {}),
    ...(fanOut !== undefined ? { fanOut } : {}),
  };
}

/** Splits a list into runs of at most `maxChars` of JSON (a single larger item is a part of its own). */
export function splitTasks<T>(tasks: T[], maxChars = SPEC_PART_CHARS): T[][] {
  const parts: T[][] = [[]];
  let chars = 0;
  for (const t of tasks) {
    const size = JSON.stringify(t).length + 1;
    if (chars + size > maxChars && parts[parts.length - 1].length > 0) {
      parts.push([]);
      chars = 0;
    }
    parts[parts.length - 1].push(t);
    chars += size;
  }
  return parts;
}

/** Where a skill's text is kept by its sha256, shared by every night that names it. */
export const SKILL_SCOPE = 'by-hash';
export const skillKey = (sha256: string) => `${sha256}.md`;
/** Where the lessons a night was started with are kept, by their sha256. */
export const LESSONS_SCOPE = 'by-hash';
export const lessonsKey = (sha256: string) => `${sha256}.md`;

/**
 * Stores what `nightshift start` validated for `batchId`, with the text of every skill it
 * names and of the lessons, as they are now (hand-written skills from `root`, the rest from `store`) (each task records their hashes). Content-addressed and
 * insert-if-absent: starting the same night twice stores it once.
 */
export async function storeValidatedSpec(
  store: StateStore,
  batchId: string,
  validated: BatchSpec,
  root: string,
): Promise<SpecRef> {
  const hashes = new Map<string, string>();
  for (const name of new Set(validated.tasks.flatMap((t) => t.skills))) {
    const text = await readSkill({ root, store }, name);
    if (text === undefined) continue;
    const hash = createHash('sha256').update(text).digest('hex');
    await store.putIfAbsent('skills', SKILL_SCOPE, skillKey(hash), text);
    hashes.set(name, hash);
  }
  const lessons = await lessonsText({ root, store });
  const lessonsHash = lessons.trim() ? createHash('sha256').update(lessons).digest('hex') : undefined;
  if (lessonsHash) await store.putIfAbsent('lessons', LESSONS_SCOPE, lessonsKey(lessonsHash), lessons);
  const spec: BatchSpec = {
    ...validated,
    tasks: validated.tasks.map((t) => {
      const named = t.skills.filter((n) => hashes.has(n));
      return {
        ...t,
        ...(named.length ? { skillHashes: Object.fromEntries(named.map((n) => [n, hashes.get(n)!])) } : {}),
        ...(lessonsHash ? { lessonsHash } : {}),
      };
    }),
  };
  const hash = contentHash(spec);
  await store.putIfAbsent('specs', batchId, specKeys.validated(hash), JSON.stringify(spec));
  return { batchId, hash };
}

export interface SpecInput {
  tasksFile?: string;
  spec?: unknown;
  /** A spec `nightshift start` stored (BatchInput.storedSpec). */
  storedSpec?: SpecRef;
  /** With it, `tasksFile` is a pending/ folder whose files a scheduled night takes first. */
  claimAs?: string;
}

export function createSpecActivities(config: Pick<NightshiftConfig, 'root' | 'dailyMaxCostUsd'>, store?: StateStore) {
  /** A scheduled folder night: the files it took, as one batch; none is an empty night, not a failure. */
  async function loadClaimed(pendingDir: string, night: string): Promise<BatchSpec> {
    const claim = await claimPendingFiles(config.root, pendingDir, night);
    if (claim.files.length === 0) return { ...normalizeBatch(pendingDir, {}, [], [], []), tasks: [] };
    try {
      const spec = await loadBatchSpec(claim.dir, config.root, { knownTaskIds: claim.completedIds });
      // A dependency done on an earlier night (its file in completed/) is met.
      const here = new Set(spec.tasks.map((t) => t.id));
      return {
        ...spec,
        source: pendingDir,
        tasks: spec.tasks.map((t) => ({ ...t, dependsOn: t.dependsOn.filter((d) => here.has(d)) })),
      };
    } catch (err) {
      // Nothing ran: the files go back where the person put them, to be fixed.
      if (err instanceof SpecError) await settleClaimedFiles(config.root, pendingDir, night, []);
      throw err;
    }
  }

  async function validate(input: SpecInput): Promise<BatchSpec> {
    if (input.storedSpec) {
      if (!store) throw new Error('this worker has no state store to read the stored spec from');
      const text = await store.get('specs', input.storedSpec.batchId, specKeys.validated(input.storedSpec.hash));
      if (text === undefined) {
        throw new SpecError([
          {
            file: 'workflow input',
            path: 'storedSpec',
            message: `the spec ${input.storedSpec.batchId} ${input.storedSpec.hash.slice(0, 12)} that nightshift start stored is not in this worker's state store (${store.location}); start and every worker must use the same NIGHTSHIFT_STORE (with the file store, the same NIGHTSHIFT_ROOT: this worker's is ${config.root})`,
          },
        ]);
      }
      return JSON.parse(text) as BatchSpec;
    }
    if ((input.tasksFile === undefined) === (input.spec === undefined)) {
      throw new SpecError([
        { file: 'workflow input', path: '', message: 'give exactly one of "tasksFile" and "spec"' },
      ]);
    }
    if (input.tasksFile !== undefined) {
      const abs = path.resolve(config.root, input.tasksFile);
      if (!(await fs.stat(abs).catch(() => undefined))) {
        throw new SpecError([
          {
            file: input.tasksFile,
            path: '',
            message: `no such file or directory: this worker resolved it against its NIGHTSHIFT_ROOT ${config.root} (as ${abs}); start workers in the directory that holds the task files, or use nightshift start, which hands the validated spec to every worker`,
          },
        ]);
      }
      return input.claimAs !== undefined
        ? loadClaimed(input.tasksFile, input.claimAs)
        : loadBatchSpec(input.tasksFile, config.root);
    }
    return parseBatchSpecIn(input.spec, config.root);
  }

  const normalize = async (input: SpecInput) =>
    withDailyCap(withModelIds(await validate(input)), config.dailyMaxCostUsd);

  async function need(ref: SpecRef, key: string, what: string): Promise<string> {
    if (!store) throw new Error('this worker has no state store');
    const text = await store.get('specs', ref.batchId, key);
    if (text === undefined)
      throw new Error(
        `${what} the spec ${ref.batchId} ${ref.hash.slice(0, 12)} is not in the state store (${store.location})`,
      );
    return text;
  }

  // Each task start reads one task: the parsed parts of the last few specs stay in memory (they never change).
  const parsedParts = new Map<string, TaskSpec[]>();
  async function taskPart(ref: SpecRef, part: number): Promise<TaskSpec[]> {
    const key = `${ref.batchId}\n${specKeys.tasks(ref.hash, part)}`;
    const hit = parsedParts.get(key);
    if (hit) return hit;
    const tasks = JSON.parse(await need(ref, specKeys.tasks(ref.hash, part), `part ${part} of`)) as TaskSpec[];
    if (parsedParts.size >= 16) parsedParts.delete(parsedParts.keys().next().value as string);
    parsedParts.set(key, tasks);
    return tasks;
  }

  return {
    /**
     * Reads `tasksFile` (relative to NIGHTSHIFT_ROOT) or validates an inline `spec`; the whole spec travels back in history.
     * With `claimAs`, `tasksFile` is a pending/ folder whose files the night takes first.
     */
    async loadBatchSpec(input: SpecInput): Promise<BatchSpec> {
      return normalize(input);
    },

    /**
     * Validates and normalizes the night's spec like loadBatchSpec and stores it under the
     * batch ID and its content hash: the tasks in parts, and an index of them (what the
     * workflow schedules by) in parts. Returns only the header. Idempotent: a retry stores
     * nothing new.
     */
    async storeBatchSpec(input: SpecInput & { batchId: string }): Promise<BatchSpecHeader> {
      if (!store) throw new Error('this worker has no state store');
      const spec = await normalize(input);
      const { batchId } = input;
      const hash = contentHash(spec);
      const taskParts = splitTasks(spec.tasks);
      const index: TaskIndexEntry[] = [];
      for (const [part, tasks] of taskParts.entries()) {
        await store.putIfAbsent('specs', batchId, specKeys.tasks(hash, part), JSON.stringify(tasks));
        for (const t of tasks)
          index.push({
            ...indexEntry(t),
            index: index.length,
            ...(input.claimAs !== undefined ? { sourceFile: t.source.file } : {}),
          });
      }
      const indexParts = splitTasks(index);
      for (const [part, entries] of indexParts.entries())
        await store.putIfAbsent('specs', batchId, specKeys.index(hash, part), JSON.stringify(entries));
      const { tasks: _tasks, ...settings } = spec;
      const header: BatchSpecHeader = {
        ref: { batchId, hash },
        parts: indexParts.length,
        taskCount: spec.tasks.length,
        settings,
      };
      // Last: a header found means every part is there.
      await store.putIfAbsent(
        'specs',
        batchId,
        specKeys.header(hash),
        JSON.stringify({ ...header, taskParts: taskParts.map((p) => p.length) }),
      );
      return header;
    },

    /** One part of a stored spec's task index, in order. */
    async readBatchSpecPart(input: { ref: SpecRef; part: number }): Promise<TaskIndexEntry[]> {
      return JSON.parse(
        await need(input.ref, specKeys.index(input.ref.hash, input.part), `part ${input.part} of the task index of`),
      ) as TaskIndexEntry[];
    },

    /** The whole TaskSpec of the task at `index` of a stored spec, for its child workflow's input. */
    async readBatchTask(input: { ref: SpecRef; index: number }): Promise<TaskSpec> {
      const header = JSON.parse(await need(input.ref, specKeys.header(input.ref.hash), 'the header of')) as {
        taskParts: number[];
      };
      let first = 0;
      for (const [part, count] of header.taskParts.entries()) {
        if (input.index < first + count) return (await taskPart(input.ref, part))[input.index - first];
        first += count;
      }
      throw new Error(`the spec ${input.ref.batchId} ${input.ref.hash.slice(0, 12)} has no task ${input.index}`);
    },

    /** The header of a stored spec (a run continued as new reads its spec again by key). */
    async readBatchSpecHeader(input: { ref: SpecRef }): Promise<BatchSpecHeader> {
      const { taskParts: _parts, ...header } = JSON.parse(
        await need(input.ref, specKeys.header(input.ref.hash), 'the header of'),
      ) as BatchSpecHeader & { taskParts: number[] };
      return header;
    },
  };
}
