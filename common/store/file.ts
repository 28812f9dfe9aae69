/**
 * The `file` state store: directories under `<root>/.nightshift`, the layout one machine
 * has always used (`transcripts/<workflow>/turn-000001.json`, ...). The embedded default.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkKey, drainStream, type RecordKind, type StateStore } from './types';

/**
 * One directory per scope. Scopes are workflow IDs, which contain "/" (`<batchId>/<taskId>`),
 * so the directory name is a readable slug plus a hash of the exact ID, and distinct IDs
 * never share one.
 */
export function safeWorkflowDirName(workflowId: string): string {
  const slug = workflowId.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100);
  return `${slug}-${createHash('sha256').update(workflowId).digest('hex').slice(0, 10)}`;
}

export interface FileStateStoreOptions {
  /** The directory holding one subdirectory per kind (`<root>/.nightshift`). */
  dir: string;
  /** A kind's directory elsewhere than `<dir>/<kind>`. */
  dirs?: Partial<Record<RecordKind, string>>;
  /**
   * Values kept in memory per process, for keys written once and never changed (transcript
   * turns): saves re-reading N turns from disk on turn N+1. @default 20000
   */
  cacheEntries?: number;
}

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * Kinds whose scopes are fixed names (`telegram/questions/`) rather than workflow IDs: the
 * scope is the directory's name as it is, the layout these records had before the store.
 */
const NAMED_SCOPES: ReadonlySet<RecordKind> = new Set(['telegram', 'learned-skills']);

/**
 * Kinds whose values a person or another process replaces (approving a skill, editing it by
 * hand): read from disk every time, so no process keeps prompting with an old version.
 */
const UNCACHED: ReadonlySet<RecordKind> = new Set(['learned-skills']);

export class FileStateStore implements StateStore {
  readonly hostLocal = true;
  readonly location: string;
  private readonly cache = new Map<string, string>();
  private readonly cacheEntries: number;

  constructor(private readonly o: FileStateStoreOptions) {
    this.location = `file:${o.dir}`;
    this.cacheEntries = o.cacheEntries ?? 20_000;
  }

  /** The directory holding one scope's values (for people reading transcripts). */
  dirFor(kind: RecordKind, scope: string): string {
    if (NAMED_SCOPES.has(kind)) checkKey(scope);
    return path.join(
      this.o.dirs?.[kind] ?? path.join(this.o.dir, kind),
      NAMED_SCOPES.has(kind) ? scope : safeWorkflowDirName(scope),
    );
  }

  private file(kind: RecordKind, scope: string, key: string): string {
    checkKey(key);
    return path.join(this.dirFor(kind, scope), key);
  }

  private blobFile(kind: RecordKind, scope: string, key: string): string {
    return `${this.file(kind, scope, key)}.blob`;
  }

  private tmpFor(f: string): string {
    return `${f}.${randomBytes(6).toString('hex')}.tmp`;
  }

  async get(kind: RecordKind, scope: string, key: string): Promise<string | undefined> {
    const f = this.file(kind, scope, key);
    const hit = this.cache.get(f);
    if (hit !== undefined) return hit;
    try {
      const v = await fs.readFile(f, 'utf8');
      if (!UNCACHED.has(kind)) this.remember(f, v);
      return v;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async put(kind: RecordKind, scope: string, key: string, value: string): Promise<void> {
    const f = this.file(kind, scope, key);
    await fs.mkdir(path.dirname(f), { recursive: true });
    // Write then rename: a worker killed mid-write leaves a stray temp file, never half a record.
    const tmp = this.tmpFor(f);
    await fs.writeFile(tmp, value);
    await fs.rename(tmp, f);
    if (!UNCACHED.has(kind)) this.remember(f, value);
  }

  async putIfAbsent(kind: RecordKind, scope: string, key: string, value: string): Promise<boolean> {
    const f = this.file(kind, scope, key);
    await fs.mkdir(path.dirname(f), { recursive: true });
    const tmp = this.tmpFor(f);
    await fs.writeFile(tmp, value);
    return this.linkOnce(tmp, f);
  }

  /** link(2) fails if the name exists, so of two writers exactly one publishes its complete file. */
  private async linkOnce(tmp: string, f: string): Promise<boolean> {
    try {
      await fs.link(tmp, f);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  async delete(kind: RecordKind, scope: string, key: string): Promise<void> {
    const f = this.file(kind, scope, key);
    this.cache.delete(f);
    await fs.rm(f, { force: true });
  }

  async list(kind: RecordKind, scope: string, prefix = ''): Promise<string[]> {
    const names = await fs.readdir(this.dirFor(kind, scope)).catch((err: unknown) => {
      if (isMissing(err)) return [] as string[];
      throw err;
    });
    return names.filter((n) => n.startsWith(prefix) && !n.endsWith('.tmp') && !n.endsWith('.blob')).sort();
  }

  async putBlob(kind: RecordKind, scope: string, key: string, data: AsyncIterable<Uint8Array>): Promise<boolean> {
    const f = this.blobFile(kind, scope, key);
    await fs.mkdir(path.dirname(f), { recursive: true });
    if (await exists(f)) {
      await drainStream(data);
      return false;
    }
    const tmp = this.tmpFor(f);
    try {
      await pipeline(Readable.from(data, { objectMode: false }), createWriteStream(tmp));
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
    return this.linkOnce(tmp, f);
  }

  async getBlob(kind: RecordKind, scope: string, key: string): Promise<Readable | undefined> {
    const f = this.blobFile(kind, scope, key);
    // Opened before returning, so a missing blob is `undefined` rather than a stream that errors later.
    const handle = await fs.open(f, 'r').catch((err: unknown) => {
      if (isMissing(err)) return undefined;
      throw err;
    });
    return handle?.createReadStream();
  }

  async deleteBlob(kind: RecordKind, scope: string, key: string): Promise<void> {
    await fs.rm(this.blobFile(kind, scope, key), { force: true });
  }

  async close(): Promise<void> {
    this.cache.clear();
  }

  private remember(f: string, v: string): void {
    if (this.cache.size >= this.cacheEntries) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(f, v);
  }
}

async function exists(f: string): Promise<boolean> {
  return fs.access(f).then(
    () => true,
    () => false,
  );
}
