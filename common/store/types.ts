/**
 * The state store: what must outlive one worker host (transcripts with their questions and
 * notes, workspace checkpoints, the night's spec, the skills it names, the report). Workers
 * on several hosts share it; one host shares it with itself through files.
 *
 * Every value lives under (kind, scope, key): the kind of record, the workflow or batch it
 * belongs to, and a name that says which turn, tool use or part it is. Writes that a retry
 * could repeat use `putIfAbsent`/`putBlob`, so the first writer wins and a second one
 * learns it lost instead of writing twice.
 *
 * A new backend (an S3-compatible bucket, say) implements this interface and is picked in
 * `openStateStore`; no caller changes.
 */
import type { Readable } from 'node:stream';

/**
 * Kinds of record the store holds; each is a directory of its own in the file store.
 * `telegram`: which question each sent Telegram message asked (scope `questions`).
 * `plans`: the plan a planning workflow made (scope: its workflow ID).
 * `lessons`: the lessons a night was started with, by content hash.
 * `followups`: review feedback already turned into a follow-up task, by item ID.
 * `learned-skills`: the skills `update_skill` learned (scope `learned`) or that wait for a
 * person (scope `pending`), keyed `<name>.md`; they change (approve, a newer lesson), so
 * writes replace.
 * `improve`: an improvement loop's findings and summary (scope: the improvement workflow).
 */
export type RecordKind =
  | 'transcripts'
  | 'specs'
  | 'checkpoints'
  | 'results'
  | 'skills'
  | 'telegram'
  | 'plans'
  | 'lessons'
  | 'followups'
  | 'learned-skills'
  | 'improve';

export interface StateStore {
  /**
   * True when the store is this host's own disk (`file`): what the worker already keeps on
   * disk in its own format (the checkpoints.git repository) needs no second copy in it.
   */
  readonly hostLocal: boolean;
  /** `file:<dir>` or `postgres://host:port/db` (no password), for messages that say where a value was looked for. */
  readonly location: string;
  /** The value under the key, or undefined if none was written. */
  get(kind: RecordKind, scope: string, key: string): Promise<string | undefined>;
  /** Writes or replaces the value atomically: a reader sees the old value or the new one, never part of one. */
  put(kind: RecordKind, scope: string, key: string, value: string): Promise<void>;
  /** Writes the value unless the key has one. @returns true if this call wrote it, false if another writer had. */
  putIfAbsent(kind: RecordKind, scope: string, key: string, value: string): Promise<boolean>;
  /** Removes the value; no error if there is none. */
  delete(kind: RecordKind, scope: string, key: string): Promise<void>;
  /** The keys in the scope that start with `prefix`, sorted. */
  list(kind: RecordKind, scope: string, prefix?: string): Promise<string[]>;
  /**
   * Stores a large value from a stream, chunk by chunk, never whole in memory; insert-if-absent
   * like `putIfAbsent`. Nobody sees the blob until all of it is stored; a writer that dies
   * midway leaves nothing behind under the key.
   * @returns true if this call stored it, false if the key already had a blob (the stream is then drained unread).
   */
  putBlob(kind: RecordKind, scope: string, key: string, data: AsyncIterable<Uint8Array>): Promise<boolean>;
  /** The blob as a stream, or undefined if none was stored. */
  getBlob(kind: RecordKind, scope: string, key: string): Promise<Readable | undefined>;
  /** Removes the blob; no error if there is none. */
  deleteBlob(kind: RecordKind, scope: string, key: string): Promise<void>;
  /** Releases connections; the store is unusable afterwards. */
  close(): Promise<void>;
}

/** Names are ASCII words, dots, dashes and underscores, so every backend can use them as file or object names. */
export const STORE_KEY = /^[A-Za-z0-9._-]+$/;

export function checkKey(key: string): void {
  if (!STORE_KEY.test(key) || key === '.' || key === '..')
    throw new Error(`invalid state store key ${JSON.stringify(key)}`);
}

/** Reads a blob's stream to its end unkept: its producer (a git process) must finish to exit cleanly. */
export async function drainStream(data: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const _chunk of data) {
    // Nothing to keep.
  }
}
