/**
 * A night's `log_file` (to `tail -f` as the night runs). Every
 * worker process appends the task events it logs for that night to the file, on its own
 * host, one line each: on one machine the file holds the whole night; on several, each
 * machine's file holds what ran there (as distributed runs do with --log-file).
 *
 * The path is the task file's, checked again here (common/night-log-path.ts); the lines
 * carry agent text, so each is one bounded line, and the file stops at NIGHT_LOG_MAX_BYTES.
 * A log that cannot be written never fails work: the worker says so once.
 */
import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { NIGHT_LOG_MAX_BYTES, nightLogPath } from '../common/night-log-path';
import type { StateStore } from '../common/store';
import { oneLine, type NightLogSink, type TaskEvent } from './log';

/** Room kept at the end of the file for the line that says it is full. */
const FULL_NOTE_BYTES = 200;

/** A night without log_file is looked up again after this, in case its spec was stored since. */
const MISS_TTL_MS = 30_000;

/** The batch a task's workflow (`<batch>/<task>`) or a batch's own belongs to. */
const batchOf = (workflowId: string) => workflowId.split('/')[0];

export class NightLogs implements NightLogSink {
  private readonly files = new Map<string, { path?: string; until?: number }>();
  private readonly lookups = new Map<string, Promise<string | undefined>>();
  private readonly chains = new Map<string, Promise<void>>();
  private readonly full = new Set<string>();
  private readonly told = new Set<string>();

  constructor(private readonly o: { root: string; home: string; store?: StateStore; say: (line: string) => void }) {}

  /** The night's settings came through this worker (its spec was loaded or stored here). */
  learn(batchId: string, logFile: string | undefined): void {
    const known = this.files.get(batchId);
    const file = this.checked(batchId, logFile);
    this.files.set(batchId, { path: file });
    if (file && known?.path !== file)
      this.write(file, `${new Date().toISOString()} ${oneLine(batchId, 200)} logging to ${file} from this worker`);
  }

  append(e: TaskEvent, time: string): void {
    if (!e.workflowId) return;
    const batchId = batchOf(e.workflowId);
    void this.fileOf(batchId).then((file) => {
      if (file) this.write(file, `${time} ${oneLine(e.workflowId, 300)} ${oneLine(e.text, 600)}`);
    });
  }

  /** Settles when every line handed in so far is written (tests, shutdown). */
  async flushed(): Promise<void> {
    await Promise.all([...this.lookups.values()].map((p) => p.catch(() => undefined)));
    await Promise.all([...this.chains.values()]);
  }

  private checked(batchId: string, raw: string | undefined): string | undefined {
    if (raw === undefined) return undefined;
    const where = nightLogPath(raw, { root: this.o.root, home: this.o.home });
    if ('path' in where) return where.path;
    this.once(`refused:${batchId}`, `night ${batchId}: its log is not written: ${where.error}`);
    return undefined;
  }

  private fileOf(batchId: string): Promise<string | undefined> {
    const known = this.files.get(batchId);
    if (known && (known.until === undefined || known.until > Date.now())) return Promise.resolve(known.path);
    let lookup = this.lookups.get(batchId);
    if (!lookup) {
      lookup = this.storedLogFile(batchId)
        .then((raw) => {
          const file = this.checked(batchId, raw);
          // learn() may have answered meanwhile; it wins.
          if (!this.files.get(batchId) || this.files.get(batchId)?.until !== undefined)
            this.files.set(batchId, file ? { path: file } : { until: Date.now() + MISS_TTL_MS });
          return this.files.get(batchId)?.path;
        })
        .catch(() => undefined)
        .finally(() => this.lookups.delete(batchId));
      this.lookups.set(batchId, lookup);
    }
    return lookup;
  }

  /** The log_file of a night whose spec `nightshift start` (or its first worker) stored by reference. */
  private async storedLogFile(batchId: string): Promise<string | undefined> {
    const store = this.o.store;
    if (!store) return undefined;
    const headers = (await store.list('specs', batchId, 'normalized-')).filter((k) =>
      /^normalized-[0-9a-f]+\.json$/.test(k),
    );
    for (const key of headers) {
      const raw = await store.get('specs', batchId, key);
      const logFile = raw ? (JSON.parse(raw) as { settings?: { logFile?: unknown } }).settings?.logFile : undefined;
      if (typeof logFile === 'string') return logFile;
    }
    return undefined;
  }

  /** Appends in order per file; never throws. */
  private write(file: string, line: string): void {
    const prev = this.chains.get(file) ?? Promise.resolve();
    const next = prev
      .then(() => this.appendLine(file, `${line}\n`))
      .catch((err: unknown) =>
        this.once(
          `failed:${file}`,
          `cannot write the night's log ${file}: ${err instanceof Error ? err.message : String(err)}`,
        ),
      );
    this.chains.set(file, next);
    void next.finally(() => {
      if (this.chains.get(file) === next) this.chains.delete(file);
    });
  }

  private async appendLine(file: string, line: string): Promise<void> {
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    // No following a link planted at the log's name: the line goes to that file or nowhere.
    const handle = await fs.open(
      file,
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      const { size } = await handle.stat();
      if (this.full.has(file)) return;
      if (size + Buffer.byteLength(line) <= NIGHT_LOG_MAX_BYTES - FULL_NOTE_BYTES) {
        await handle.write(line);
        return;
      }
      this.full.add(file);
      const note = `${new Date().toISOString()} this log reached its bound of ${NIGHT_LOG_MAX_BYTES / 1024 / 1024} MiB; further events are in the workers' own logs\n`;
      if (size + Buffer.byteLength(note) <= NIGHT_LOG_MAX_BYTES) await handle.write(note);
    } finally {
      await handle.close();
    }
  }

  private once(key: string, line: string): void {
    if (this.told.has(key)) return;
    this.told.add(key);
    this.o.say(line);
  }
}
