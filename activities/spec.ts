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
import { SpecError } from '../common/errors';
import { EFFORT_FOR_COMPLEXITY, resolveModel } from '../common/models';
import type { NightshiftConfig } from '../common/config';
import type { StateStore } from '../common/store';
import { loadBatchSpec, parseBatchSpecIn } from '../spec/load';
import { readSkill } from './learning/skills';
import type { BatchSpec, TaskSpec } from '../spec/types';
import type { BatchSpecHeader, SpecRef } from '../workflows/contract';

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
  return { ...spec, tasks: spec.tasks.map((t) => (t.command !== undefined ? t : { ...t, model: resolveModel(t.model, t.complexity), effort: t.effort ?? EFFORT_FOR_COMPLEXITY[t.complexity ?? 'medium'] })) };
}

/** Characters of task JSON per part: a quarter of the 2 MiB payload limit leaves room for the envelope. */
export const SPEC_PART_CHARS = 512 * 1024;

export const specKeys = {
  /** What `nightshift start` validated, before the worker's model table and daily cap apply. */
  validated: (hash: string) => `validated-${hash}.json`,
  header: (hash: string) => `normalized-${hash}.json`,
  part: (hash: string, part: number) => `normalized-${hash}.part-${String(part).padStart(5, '0')}.json`,
};

export function contentHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

/** Splits tasks into runs of at most SPEC_PART_CHARS of JSON (a single larger task is a part of its own). */
export function splitTasks(tasks: TaskSpec[], maxChars = SPEC_PART_CHARS): TaskSpec[][] {
  const parts: TaskSpec[][] = [[]];
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

/**
 * Stores what `nightshift start` validated for `batchId`, with the text of every skill it
 * names as read from `root` now (each task records their hashes). Content-addressed and
 * insert-if-absent: starting the same night twice stores it once.
 */
export async function storeValidatedSpec(store: StateStore, batchId: string, validated: BatchSpec, root: string): Promise<SpecRef> {
  const hashes = new Map<string, string>();
  for (const name of new Set(validated.tasks.flatMap((t) => t.skills))) {
    const text = await readSkill(root, name);
    if (text === undefined) continue;
    const hash = createHash('sha256').update(text).digest('hex');
    await store.putIfAbsent('skills', SKILL_SCOPE, skillKey(hash), text);
    hashes.set(name, hash);
  }
  const spec: BatchSpec = {
    ...validated,
    tasks: validated.tasks.map((t) => {
      const named = t.skills.filter((n) => hashes.has(n));
      return named.length ? { ...t, skillHashes: Object.fromEntries(named.map((n) => [n, hashes.get(n)!])) } : t;
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
}

export function createSpecActivities(config: Pick<NightshiftConfig, 'root' | 'dailyMaxCostUsd'>, store?: StateStore) {
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
      throw new SpecError([{ file: 'workflow input', path: '', message: 'give exactly one of "tasksFile" and "spec"' }]);
    }
    if (input.tasksFile !== undefined) {
      const abs = path.resolve(config.root, input.tasksFile);
      if (!(await fs.stat(abs).catch(() => undefined))) {
        throw new SpecError([{ file: input.tasksFile, path: '', message: `no such file or directory: this worker resolved it against its NIGHTSHIFT_ROOT ${config.root} (as ${abs}); start workers in the directory that holds the task files, or use nightshift start, which hands the validated spec to every worker` }]);
      }
      return loadBatchSpec(input.tasksFile, config.root);
    }
    return parseBatchSpecIn(input.spec, config.root);
  }

  const normalize = async (input: SpecInput) => withDailyCap(withModelIds(await validate(input)), config.dailyMaxCostUsd);

  return {
    /** Reads `tasksFile` (relative to NIGHTSHIFT_ROOT) or validates an inline `spec`; the whole spec travels back in history. */
    async loadBatchSpec(input: SpecInput): Promise<BatchSpec> {
      return normalize(input);
    },

    /**
     * Validates and normalizes the night's spec like loadBatchSpec, stores it in parts under
     * the batch ID and its content hash, and returns only the key. Idempotent: a retry
     * stores nothing new.
     */
    async storeBatchSpec(input: SpecInput & { batchId: string }): Promise<BatchSpecHeader> {
      if (!store) throw new Error('this worker has no state store');
      const spec = await normalize(input);
      const { batchId } = input;
      const hash = contentHash(spec);
      const parts = splitTasks(spec.tasks);
      // Parts first, the header last: a header found means every part is there.
      for (const [i, tasks] of parts.entries()) await store.putIfAbsent('specs', batchId, specKeys.part(hash, i), JSON.stringify(tasks));
      const { tasks: _tasks, ...rest } = spec;
      const header: BatchSpecHeader = { ref: { batchId, hash }, parts: parts.length, taskCount: spec.tasks.length, settings: rest };
      await store.putIfAbsent('specs', batchId, specKeys.header(hash), JSON.stringify(header));
      return header;
    },

    /** One part of a stored spec's tasks, in order. */
    async readBatchSpecPart(input: { ref: SpecRef; part: number }): Promise<TaskSpec[]> {
      if (!store) throw new Error('this worker has no state store');
      const text = await store.get('specs', input.ref.batchId, specKeys.part(input.ref.hash, input.part));
      if (text === undefined) throw new Error(`part ${input.part} of the spec ${input.ref.batchId} ${input.ref.hash.slice(0, 12)} is not in the state store (${store.location})`);
      return JSON.parse(text) as TaskSpec[];
    },

    /** The header of a stored spec (a run continued as new reads its spec again by key). */
    async readBatchSpecHeader(input: { ref: SpecRef }): Promise<BatchSpecHeader> {
      if (!store) throw new Error('this worker has no state store');
      const text = await store.get('specs', input.ref.batchId, specKeys.header(input.ref.hash));
      if (text === undefined) throw new Error(`the spec ${input.ref.batchId} ${input.ref.hash.slice(0, 12)} is not in the state store (${store.location})`);
      return JSON.parse(text) as BatchSpecHeader;
    },
  };
}
