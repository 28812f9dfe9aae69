/**
 * Task results by reference: the batch writes each ended task's result here instead of
 * carrying it across continue-as-new (BATCH_RESULTS_BY_REFERENCE_PATCH), and the report
 * and the client read them back, joined with the task index of the stored spec.
 */
import type { StateStore } from '../common/store';
import { whileBeating } from './heartbeat';
import { specKeys } from './spec';
import { NO_TOKENS, taskWorkflowId, type BatchSpecHeader, type ResultsRef, type SpecRef, type TaskIndexEntry, type TaskResult, type TaskStatus } from '../workflows/contract';

/** A task's result under its night: `<first run ID>.<task ID>.json` in the batch's scope (task IDs are store-safe, spec/schema.ts TASK_ID). */
export const resultKey = (ref: ResultsRef, taskId: string) => `${ref.night}.${taskId}.json`;

/** Stored results are read this many at a time: a postgres store answers each with a query. */
const READ_CONCURRENCY = 32;

async function readResults(store: StateStore, ref: ResultsRef, taskIds: readonly string[]): Promise<Map<string, TaskResult>> {
  const out = new Map<string, TaskResult>();
  for (let i = 0; i < taskIds.length; i += READ_CONCURRENCY) {
    const slice = taskIds.slice(i, i + READ_CONCURRENCY);
    const texts = await Promise.all(slice.map((id) => store.get('results', ref.batchId, resultKey(ref, id))));
    texts.forEach((text, k) => {
      if (text !== undefined) out.set(slice[k], JSON.parse(text) as TaskResult);
    });
  }
  return out;
}

/**
 * Every task of a stored night in the spec's order, as the batch's status shows it: its
 * stored result (a task with none is pending) with its title and plan facts from the index.
 */
export async function readStoredTasks(store: StateStore, spec: SpecRef, results: ResultsRef): Promise<TaskStatus[]> {
  const headerText = await store.get('specs', spec.batchId, specKeys.header(spec.hash));
  if (headerText === undefined) throw new Error(`the spec ${spec.batchId} ${spec.hash.slice(0, 12)} is not in the state store (${store.location})`);
  const header = JSON.parse(headerText) as BatchSpecHeader;
  const index: TaskIndexEntry[] = [];
  for (let part = 0; part < header.parts; part++) {
    const text = await store.get('specs', spec.batchId, specKeys.index(spec.hash, part));
    if (text === undefined) throw new Error(`part ${part} of the task index of the spec ${spec.batchId} ${spec.hash.slice(0, 12)} is not in the state store (${store.location})`);
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
      await whileBeating(async () => {
        for (const r of input.results) if (await store.putIfAbsent('results', input.ref.batchId, resultKey(input.ref, r.taskId), JSON.stringify(r))) written++;
      });
      return written;
    },

    /** The stored results of these tasks (those with none are left out), for a dependent's start or the batch's result. */
    async readTaskResults(input: { ref: ResultsRef; taskIds: string[] }): Promise<TaskResult[]> {
      const found = await whileBeating(() => readResults(store, input.ref, input.taskIds));
      return input.taskIds.flatMap((id) => (found.has(id) ? [found.get(id)!] : []));
    },
  };
}
