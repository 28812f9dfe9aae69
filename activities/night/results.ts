/**
 * Task results by reference: the batch writes each ended task's result here instead of
 * carrying it across continue-as-new (BATCH_RESULTS_BY_REFERENCE_PATCH), and the report
 * and the client read them back, joined with the task index of the stored spec.
 */
import { createHash } from 'node:crypto';
import type { StateStore } from '../../common/store';
import { STORE_KEY } from '../../common/store/types';
import { whileBeating } from '../heartbeat';
import { specKeys } from './spec';
import {
  NO_TOKENS,
  taskWorkflowId,
  type ResultsRef,
  type SpecRef,
  type TaskResult,
  type TaskStatus,
} from '../../contract';
import { type BatchSpecHeader, type TaskIndexEntry } from '../../workflows/night/messages';

/**
 * A task's result under its night: `<first run ID>.<task ID>.json` in the batch's scope. A
 * written task ID is store-safe (taskfile/schema.ts TASK_ID), but a fanned-out one is
 * `<id>@<repo>`: that one is named by a slug and a hash of the exact ID, so no two meet.
 */
export const resultKey = (ref: ResultsRef, taskId: string) => `${ref.night}.${storeSafe(taskId)}.json`;

function storeSafe(taskId: string): string {
  if (STORE_KEY.test(taskId)) return taskId;
  return `${taskId.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80)}-${createHash('sha256').update(taskId).digest('hex').slice(0, 16)}`;
}

/**
 * Stored results are read and written this many at a time: a postgres store answers each
 * with a query, the file store with a few file operations; one at a time, a call of 600
 * results outlasted its minute on a busy worker.
 */
const STORE_CONCURRENCY = 16;

/** Runs `fn` over `items`, at most STORE_CONCURRENCY at once, in order of start. */
async function eachInParallel<T>(items: readonly T[], fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(STORE_CONCURRENCY, items.length) }, lane));
}

async function readResults(
  store: StateStore,
  ref: ResultsRef,
  taskIds: readonly string[],
): Promise<Map<string, TaskResult>> {
  const found: (TaskResult | undefined)[] = new Array(taskIds.length);
  await eachInParallel(taskIds, async (id, i) => {
    const text = await store.get('results', ref.batchId, resultKey(ref, id));
    if (text !== undefined) found[i] = JSON.parse(text) as TaskResult;
  });
  // In the order asked, whatever order the reads finished in.
  const out = new Map<string, TaskResult>();
  taskIds.forEach((id, i) => {
    if (found[i]) out.set(id, found[i]);
  });
  return out;
}

/**
 * Every task of a stored night in the spec's order, as the batch's status shows it: its
 * stored result (a task with none is pending) with its title and plan facts from the index.
 */
export async function readStoredTasks(store: StateStore, spec: SpecRef, results: ResultsRef): Promise<TaskStatus[]> {
  const headerText = await store.get('specs', spec.batchId, specKeys.header(spec.hash));
  if (headerText === undefined)
    throw new Error(`the spec ${spec.batchId} ${spec.hash.slice(0, 12)} is not in the state store (${store.location})`);
  const header = JSON.parse(headerText) as BatchSpecHeader;
  const index: TaskIndexEntry[] = [];
  for (let part = 0; part < header.parts; part++) {
    const text = await store.get('specs', spec.batchId, specKeys.index(spec.hash, part));
    if (text === undefined)
      throw new Error(
        `part ${part} of the task index of the spec ${spec.batchId} ${spec.hash.slice(0, 12)} is not in the state store (${store.location})`,
      );
    index.push(...(JSON.parse(text) as TaskIndexEntry[]));
  }
  const stored = await readResults(
    store,
    results,
    index.map((t) => t.id),
  );
  return index.map((t) => ({
    ...(stored.get(t.id) ?? { taskId: t.id, status: 'pending' as const, costUsd: 0, tokens: NO_TOKENS, turns: 0 }),
    title: t.title,
    ...(t.repoName ? { repo: t.repoName } : {}),
    workflowId: taskWorkflowId(spec.batchId, t.id),
    complexity: t.complexity,
    role: t.role,
  }));
}

export function createBatchResultActivities(store: StateStore) {
  return {
    /**
     * Stores ended tasks' results, each under its night and task ID, insert-if-absent: a
     * retried call writes nothing twice, and a result once stored is the one the report shows.
     */
    async recordTaskResults(input: { ref: ResultsRef; results: TaskResult[] }): Promise<number> {
      let written = 0;
      await whileBeating(() =>
        eachInParallel(input.results, async (r) => {
          if (await store.putIfAbsent('results', input.ref.batchId, resultKey(input.ref, r.taskId), JSON.stringify(r)))
            written++;
        }),
      );
      return written;
    },

    /** The stored results of these tasks (those with none are left out), for a dependent's start or the batch's result. */
    async readTaskResults(input: { ref: ResultsRef; taskIds: string[] }): Promise<TaskResult[]> {
      const found = await whileBeating(() => readResults(store, input.ref, input.taskIds));
      return input.taskIds.flatMap((id) => (found.has(id) ? [found.get(id)!] : []));
    },
  };
}
