/**
 * The `postgres` state store: three tables in the PostgreSQL a Temporal cluster already runs
 * on, shared by every worker host. Records are rows keyed (kind, scope, key); blobs are
 * rows of 1 MiB chunks written in one transaction, so a blob is all there or not there.
 */
import { Readable } from 'node:stream';
import { Pool, type PoolClient } from 'pg';
import { checkKey, drainStream, type RecordKind, type StateStore } from './types';

/** Bytes per stored chunk: big enough for few round trips, small enough to never hold a whole checkpoint. */
export const BLOB_CHUNK_BYTES = 1024 * 1024;

/**
 * Schema versions, applied in order, each once. Add a new entry to change the schema;
 * never edit a shipped one (a worker of the previous release may still be running it).
 */
const MIGRATIONS: string[] = [
  `CREATE TABLE nightshift_records (
     kind text NOT NULL, scope text NOT NULL, key text NOT NULL,
     value text NOT NULL,
     written_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (kind, scope, key));
   CREATE TABLE nightshift_blobs (
     kind text NOT NULL, scope text NOT NULL, key text NOT NULL,
     size bigint NOT NULL, chunks integer NOT NULL,
     written_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (kind, scope, key));
   CREATE TABLE nightshift_blob_chunks (
     kind text NOT NULL, scope text NOT NULL, key text NOT NULL, seq integer NOT NULL,
     data bytea NOT NULL,
     PRIMARY KEY (kind, scope, key, seq),
     FOREIGN KEY (kind, scope, key) REFERENCES nightshift_blobs ON DELETE CASCADE);`,
];

/** Any fixed number: workers starting together take turns migrating under it. */
const MIGRATION_LOCK = 0x6e696768; // "nigh"

/** The URL without its password, for messages and logs. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

export class PostgresStateStore implements StateStore {
  readonly hostLocal = false;
  readonly location: string;

  private constructor(
    private readonly pool: Pool,
    url: string,
  ) {
    this.location = redactedUrl(url);
  }

  /** Connects and brings the schema up to date; safe to run from many workers at once. */
  static async open(url: string, o: { max?: number } = {}): Promise<PostgresStateStore> {
    // allowExitOnIdle: an idle pool must not keep a finished worker or CLI process alive.
    const pool = new Pool({ connectionString: url, max: o.max ?? 10, allowExitOnIdle: true });
    // An idle connection the server drops must not crash the worker; the next query reconnects.
    pool.on('error', () => undefined);
    const store = new PostgresStateStore(pool, url);
    try {
      await store.migrate();
    } catch (err) {
      await pool.end();
      throw new Error(`state store ${store.location}: ${(err as Error).message}`, { cause: err });
    }
    return store;
  }

  private async migrate(): Promise<void> {
    await this.transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await c.query('CREATE TABLE IF NOT EXISTS nightshift_schema (version integer NOT NULL)');
      const { rows } = await c.query<{ version: number }>('SELECT max(version) AS version FROM nightshift_schema');
      const current = rows[0]?.version ?? 0;
      for (let v = current; v < MIGRATIONS.length; v++) {
        await c.query(MIGRATIONS[v]);
        await c.query('INSERT INTO nightshift_schema (version) VALUES ($1)', [v + 1]);
      }
    });
  }

  private async transaction<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  async get(kind: RecordKind, scope: string, key: string): Promise<string | undefined> {
    checkKey(key);
    const { rows } = await this.pool.query<{ value: string }>(
      'SELECT value FROM nightshift_records WHERE kind = $1 AND scope = $2 AND key = $3',
      [kind, scope, key],
    );
    return rows[0]?.value;
  }

  async put(kind: RecordKind, scope: string, key: string, value: string): Promise<void> {
    checkKey(key);
    await this.pool.query(
      `INSERT INTO nightshift_records (kind, scope, key, value) VALUES ($1, $2, $3, $4)
       ON CONFLICT (kind, scope, key) DO UPDATE SET value = EXCLUDED.value, written_at = now()`,
      [kind, scope, key, value],
    );
  }

  async putIfAbsent(kind: RecordKind, scope: string, key: string, value: string): Promise<boolean> {
    checkKey(key);
    const r = await this.pool.query(
      'INSERT INTO nightshift_records (kind, scope, key, value) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
      [kind, scope, key, value],
    );
    return r.rowCount === 1;
  }

  async delete(kind: RecordKind, scope: string, key: string): Promise<void> {
    checkKey(key);
    await this.pool.query('DELETE FROM nightshift_records WHERE kind = $1 AND scope = $2 AND key = $3', [
      kind,
      scope,
      key,
    ]);
  }

  async list(kind: RecordKind, scope: string, prefix = ''): Promise<string[]> {
    // starts_with, not LIKE: a prefix holding "_" or "%" means those characters.
    const { rows } = await this.pool.query<{ key: string }>(
      'SELECT key FROM nightshift_records WHERE kind = $1 AND scope = $2 AND starts_with(key, $3) ORDER BY key COLLATE "C"',
      [kind, scope, prefix],
    );
    return rows.map((r) => r.key);
  }

  async putBlob(kind: RecordKind, scope: string, key: string, data: AsyncIterable<Uint8Array>): Promise<boolean> {
    checkKey(key);
    let reading = false;
    const stored = await this.transaction(async (c) => {
      // A second writer's insert waits here for the first one's transaction, then finds its row.
      const claimed = await c.query(
        'INSERT INTO nightshift_blobs (kind, scope, key, size, chunks) VALUES ($1, $2, $3, 0, 0) ON CONFLICT DO NOTHING',
        [kind, scope, key],
      );
      if (claimed.rowCount !== 1) return false;
      reading = true;
      let seq = 0;
      let size = 0;
      for await (const chunk of rechunk(data, BLOB_CHUNK_BYTES)) {
        await c.query('INSERT INTO nightshift_blob_chunks (kind, scope, key, seq, data) VALUES ($1, $2, $3, $4, $5)', [
          kind,
          scope,
          key,
          seq++,
          chunk,
        ]);
        size += chunk.length;
      }
      await c.query('UPDATE nightshift_blobs SET size = $4, chunks = $5 WHERE kind = $1 AND scope = $2 AND key = $3', [
        kind,
        scope,
        key,
        size,
        seq,
      ]);
      return true;
    });
    // The producer (a git process) must run to its end even when its bytes are not wanted.
    if (!reading) await drainStream(data);
    return stored;
  }

  async getBlob(kind: RecordKind, scope: string, key: string): Promise<Readable | undefined> {
    checkKey(key);
    const { rows } = await this.pool.query<{ chunks: number }>(
      'SELECT chunks FROM nightshift_blobs WHERE kind = $1 AND scope = $2 AND key = $3',
      [kind, scope, key],
    );
    if (rows.length === 0) return undefined;
    const chunks = rows[0].chunks;
    const pool = this.pool;
    // One chunk per query: memory holds a chunk, not the blob.
    async function* read(): AsyncGenerator<Buffer> {
      for (let seq = 0; seq < chunks; seq++) {
        const r = await pool.query<{ data: Buffer }>(
          'SELECT data FROM nightshift_blob_chunks WHERE kind = $1 AND scope = $2 AND key = $3 AND seq = $4',
          [kind, scope, key, seq],
        );
        if (!r.rows[0]) throw new Error(`state store blob ${kind}/${scope}/${key} lost chunk ${seq} of ${chunks}`);
        yield r.rows[0].data;
      }
    }
    return Readable.from(read(), { objectMode: false });
  }

  async deleteBlob(kind: RecordKind, scope: string, key: string): Promise<void> {
    checkKey(key);
    await this.pool.query('DELETE FROM nightshift_blobs WHERE kind = $1 AND scope = $2 AND key = $3', [
      kind,
      scope,
      key,
    ]);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Regroups a stream's pieces into chunks of exactly `size` bytes (the last one shorter). */
async function* rechunk(data: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const piece of data) {
    let buf = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    while (pendingBytes + buf.length >= size) {
      const take = size - pendingBytes;
      pending.push(buf.subarray(0, take));
      yield Buffer.concat(pending);
      pending = [];
      pendingBytes = 0;
      buf = buf.subarray(take);
    }
    if (buf.length) {
      // Copied: the producer may reuse its buffer once this piece is consumed.
      pending.push(Buffer.from(buf));
      pendingBytes += buf.length;
    }
  }
  if (pendingBytes) yield Buffer.concat(pending);
}
