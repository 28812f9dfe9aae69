/**
 * The Message Batches API (half price, answers within 24 hours), made durable:
 * - the submission's intent is stored before the batch is created and its ID right after,
 *   so a retried activity finds the batch instead of submitting it again;
 * - each request's custom_id is derived from the task run's key and the request's index;
 * - results are downloaded once and stored, so a retry reads the store, not the API.
 *
 * The API offers no idempotency key and no metadata on a batch: a batch is found again only
 * by its results' custom_ids, which exist once it ended. A retry whose earlier attempt died
 * between creating the batch and storing its ID therefore looks through the batches created
 * since the intent: an ended one holding our custom_ids is adopted; one still in progress
 * cannot be told apart from another task's, so it is reported as a suspect (the workflow
 * books it at its worst case) and a new batch is submitted.
 */
import { createHash } from 'node:crypto';
import type Anthropic from '@anthropic-ai/sdk';
import { getJson, putJson, type TranscriptStore } from '../task/transcripts';
import { toActivityError } from './client';

/** custom_id: the API takes 1-64 of [a-zA-Z0-9_-]; a task run key holds other characters and may be longer. */
export function customIdFor(runKey: string, index: number): string {
  return `ns-${createHash('sha256').update(runKey).digest('hex').slice(0, 40)}-${index}`;
}

interface BatchRecord {
  /** Epoch ms of the first attempt's intent: batches created before it are not ours. */
  intentAt: number;
  customIds: string[];
  batchId?: string;
  /** Batches an earlier attempt may have created, still in progress when looked for. */
  suspects: string[];
}

const recordKey = (name: string) => `batch-${name}.json`;
const resultsKey = (name: string) => `batch-${name}.results.json`;

/** How far the API's clock may be behind ours when looking for a batch created after an intent. */
const CLOCK_SKEW_MS = 10 * 60_000;

export interface SubmittedBatch {
  batchId: string;
  customIds: string[];
  /** Batches an earlier, lost attempt may also have created (see the file comment). */
  suspects: string[];
}

async function api<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw toActivityError(err);
  }
}

/** Submits `requests` as batch `name` of the task run stored under `workflowId`, at most once. */
export async function submitBatchOnce(
  anthropic: Anthropic,
  store: TranscriptStore,
  workflowId: string,
  name: string,
  requests: Anthropic.MessageCreateParamsNonStreaming[],
): Promise<SubmittedBatch> {
  const prior = await getJson<BatchRecord>(store, workflowId, recordKey(name));
  if (prior?.batchId) return { batchId: prior.batchId, customIds: prior.customIds, suspects: prior.suspects };
  const customIds = requests.map((_, i) => customIdFor(`${workflowId}/${name}`, i));
  let suspects = prior?.suspects ?? [];
  if (prior) {
    const found = await findSubmitted(anthropic, prior);
    if (found.adopted) {
      const rec: BatchRecord = { ...prior, batchId: found.adopted };
      await putJson(store, workflowId, recordKey(name), rec);
      return { batchId: found.adopted, customIds: prior.customIds, suspects };
    }
    suspects = [...new Set([...suspects, ...found.unconfirmed])];
  }
  const rec: BatchRecord = { intentAt: prior?.intentAt ?? Date.now(), customIds, suspects };
  // The intent first: a worker that dies after the API created the batch leaves this behind for the retry.
  await putJson(store, workflowId, recordKey(name), rec);
  const batch = await api(() =>
    anthropic.messages.batches.create({ requests: requests.map((params, i) => ({ custom_id: customIds[i], params })) }),
  );
  await putJson(store, workflowId, recordKey(name), { ...rec, batchId: batch.id } satisfies BatchRecord);
  return { batchId: batch.id, customIds, suspects };
}

/** Batches created since the intent with as many requests as ours: adopted when their results hold our custom_ids. */
async function findSubmitted(
  anthropic: Anthropic,
  rec: BatchRecord,
): Promise<{ adopted?: string; unconfirmed: string[] }> {
  const unconfirmed: string[] = [];
  const since = rec.intentAt - CLOCK_SKEW_MS;
  const ours = new Set(rec.customIds);
  for await (const b of await api(async () => anthropic.messages.batches.list({ limit: 100 }))) {
    // Newest first: everything after this one is older still.
    if (Date.parse(b.created_at) < since) break;
    const c = b.request_counts;
    if (c.processing + c.succeeded + c.errored + c.canceled + c.expired !== rec.customIds.length) continue;
    if (b.processing_status !== 'ended') {
      unconfirmed.push(b.id);
      continue;
    }
    const results = await api(() => anthropic.messages.batches.results(b.id));
    for await (const r of results) if (ours.has(r.custom_id)) return { adopted: b.id, unconfirmed };
  }
  return { unconfirmed };
}

export interface BatchState {
  status: 'in_progress' | 'canceling' | 'ended';
  counts: Anthropic.Messages.MessageBatchRequestCounts;
}

export async function batchState(anthropic: Anthropic, batchId: string): Promise<BatchState> {
  const b = await api(() => anthropic.messages.batches.retrieve(batchId));
  return { status: b.processing_status, counts: b.request_counts };
}

export async function cancelBatch(anthropic: Anthropic, batchId: string): Promise<BatchState> {
  const b = await api(() => anthropic.messages.batches.cancel(batchId));
  return { status: b.processing_status, counts: b.request_counts };
}

/** An ended batch's results by custom_id, downloaded once and then read from the store. */
export async function batchResults(
  anthropic: Anthropic,
  store: TranscriptStore,
  workflowId: string,
  name: string,
  batchId: string,
): Promise<Record<string, Anthropic.Messages.MessageBatchResult>> {
  const stored = await getJson<{ batchId: string; results: Record<string, Anthropic.Messages.MessageBatchResult> }>(
    store,
    workflowId,
    resultsKey(name),
  );
  if (stored?.batchId === batchId) return stored.results;
  const results: Record<string, Anthropic.Messages.MessageBatchResult> = {};
  for await (const r of await api(() => anthropic.messages.batches.results(batchId))) results[r.custom_id] = r.result;
  await putJson(store, workflowId, resultsKey(name), { batchId, results });
  return results;
}
