/**
 * The state store contract, run against both implementations: files in a temp directory,
 * and a real PostgreSQL 15 (a throwaway server, tables created by the store itself).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from 'pg';
import { createReportActivities } from '../../activities/night/report';
import { TelegramQuestionIndex } from '../../activities/questions/telegram-index';
import { writeStoredSkill } from '../../activities/learning/skills';
import { LESSON_LIST_SCOPE } from '../../activities/learning/store';
import { buildSystemPrompt, directoryReader } from '../../activities/task/prompt';
import {
  LESSONS_SCOPE,
  lessonsKey,
  SKILL_SCOPE,
  skillKey,
  specKeys,
  storeValidatedSpec,
} from '../../activities/night/spec';
import { loadBatchSpec } from '../../taskfile/load';
import type { BatchSpec } from '../../taskfile/types';
import { FileStateStore, type StateStore } from '../../common/store';
import { BLOB_CHUNK_BYTES, PostgresStateStore } from '../../common/store/postgres';
import type { BatchStatus } from '../../contract';
import { postgresForFile } from '../helpers/postgres';

const pg = postgresForFile();

/** A blob produced piece by piece from a seeded generator, never held whole: bytes and their sha256. */
function* pieces(totalBytes: number, seed: number): Generator<Buffer> {
  let state = seed;
  for (let left = totalBytes; left > 0;) {
    const n = Math.min(left, 64 * 1024 + (state % 4096));
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      state = (state * 1103515245 + 12345) >>> 0;
      b[i] = state >>> 24;
    }
    left -= n;
    yield b;
  }
}

async function* asyncPieces(totalBytes: number, seed: number): AsyncGenerator<Buffer> {
  for (const p of pieces(totalBytes, seed)) yield p;
}

function digestOf(totalBytes: number, seed: number): string {
  const h = createHash('sha256');
  for (const p of pieces(totalBytes, seed)) h.update(p);
  return h.digest('hex');
}

async function digestStream(s: AsyncIterable<Buffer>): Promise<{ sha: string; bytes: number; largestPiece: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  let largestPiece = 0;
  for await (const p of s) {
    h.update(p);
    bytes += p.length;
    largestPiece = Math.max(largestPiece, p.length);
  }
  return { sha: h.digest('hex'), bytes, largestPiece };
}

const fileDir = mkdtempSync(path.join(os.tmpdir(), 'nightshift-store-'));

/** Each open() is another worker on the same store: the same directory, or the same database. */
const backends: { name: string; open: () => Promise<StateStore> }[] = [
  { name: 'file', open: async () => new FileStateStore({ dir: fileDir }) },
  { name: 'postgres', open: () => PostgresStateStore.open(pg.server.url) },
];

for (const backend of backends) {
  describe(`${backend.name} state store`, () => {
    let store: StateStore;
    // Scopes are unique per run so the postgres tests never see each other's rows.
    const scope = (name: string) => `nightshift-test-${process.pid}/${name}-${randomBytes(3).toString('hex')}`;

    before(async () => {
      store = await backend.open();
    });
    after(async () => {
      await store.close();
    });

    test('a missing key reads as undefined and deletes without error', async () => {
      const s = scope('missing');
      assert.equal(await store.get('transcripts', s, 'turn-000001.json'), undefined);
      assert.equal(await store.getBlob('checkpoints', s, 'latest.bundle'), undefined);
      assert.deepEqual(await store.list('transcripts', s), []);
      await store.delete('transcripts', s, 'turn-000001.json');
      await store.deleteBlob('checkpoints', s, 'latest.bundle');
    });

    test('put replaces; putIfAbsent writes once and reports who won', async () => {
      const s = scope('idempotent');
      assert.equal(await store.putIfAbsent('transcripts', s, 'turn-000001.json', '{"a":1}'), true);
      // A retried activity writing the same key again loses and the first value stays.
      assert.equal(await store.putIfAbsent('transcripts', s, 'turn-000001.json', '{"a":2}'), false);
      assert.equal(await store.get('transcripts', s, 'turn-000001.json'), '{"a":1}');
      await store.put('transcripts', s, 'marker.started', 'one');
      await store.put('transcripts', s, 'marker.started', 'two');
      assert.equal(await store.get('transcripts', s, 'marker.started'), 'two');
      await store.delete('transcripts', s, 'marker.started');
      assert.equal(await store.get('transcripts', s, 'marker.started'), undefined);
      // Kinds and scopes are separate namespaces.
      assert.equal(await store.get('specs', s, 'turn-000001.json'), undefined);
      assert.equal(await store.get('transcripts', scope('other'), 'turn-000001.json'), undefined);
    });

    test('list gives the keys under a prefix, sorted, and treats _ and % literally', async () => {
      const s = scope('list');
      for (const k of [
        'turn-000002.json',
        'turn-000001.json',
        'turn-000001.tool-a.json',
        'prompt.json',
        'turnX000003.json',
      ])
        await store.put('transcripts', s, k, k);
      assert.deepEqual(await store.list('transcripts', s, 'turn-'), [
        'turn-000001.json',
        'turn-000001.tool-a.json',
        'turn-000002.json',
      ]);
      assert.deepEqual(await store.list('transcripts', s, 'turn_'), []);
      assert.equal((await store.list('transcripts', s)).length, 5);
    });

    test('of many concurrent writers of one key exactly one wins, and every reader sees its value', async () => {
      const s = scope('race');
      const writers = Array.from({ length: 12 }, (_, i) =>
        store.putIfAbsent('transcripts', s, 'turn-000007.json', JSON.stringify({ writer: i, pad: 'x'.repeat(50_000) })),
      );
      const won = await Promise.all(writers);
      assert.equal(won.filter(Boolean).length, 1);
      const winner = won.indexOf(true);
      assert.equal(JSON.parse((await store.get('transcripts', s, 'turn-000007.json'))!).writer, winner);
    });

    test("a second store (another worker) sees the first one's writes and loses to them", async () => {
      const other = await backend.open();
      try {
        const s = scope('two-workers');
        assert.equal(await store.putIfAbsent('specs', s, 'normalized-abc.json', 'from A'), true);
        assert.equal(await other.putIfAbsent('specs', s, 'normalized-abc.json', 'from B'), false);
        assert.equal(await other.get('specs', s, 'normalized-abc.json'), 'from A');
      } finally {
        await other.close();
      }
    });

    test('a 40 MiB blob is stored and read back streamed, in pieces no larger than a chunk', async () => {
      const s = scope('blob');
      const size = 40 * 1024 * 1024 + 12_345;
      assert.equal(await store.putBlob('checkpoints', s, 'cp-1.bundle', asyncPieces(size, 7)), true);
      const back = await digestStream((await store.getBlob('checkpoints', s, 'cp-1.bundle'))!);
      assert.equal(back.bytes, size);
      assert.equal(back.sha, digestOf(size, 7));
      assert.ok(back.largestPiece <= BLOB_CHUNK_BYTES, `read ${back.largestPiece} bytes at once`);
      // Insert-if-absent: a second write of the key is refused and changes nothing.
      assert.equal(await store.putBlob('checkpoints', s, 'cp-1.bundle', asyncPieces(1000, 8)), false);
      assert.equal(
        (await digestStream((await store.getBlob('checkpoints', s, 'cp-1.bundle'))!)).sha,
        digestOf(size, 7),
      );
      await store.deleteBlob('checkpoints', s, 'cp-1.bundle');
      assert.equal(await store.getBlob('checkpoints', s, 'cp-1.bundle'), undefined);
    });

    test('concurrent blob writers: one wins whole, the others are refused', async () => {
      const s = scope('blob-race');
      const size = 3 * BLOB_CHUNK_BYTES + 5;
      const won = await Promise.all(
        [1, 2, 3].map((seed) => store.putBlob('checkpoints', s, 'cp.bundle', asyncPieces(size, seed))),
      );
      assert.equal(won.filter(Boolean).length, 1);
      const winner = won.indexOf(true) + 1;
      assert.equal(
        (await digestStream((await store.getBlob('checkpoints', s, 'cp.bundle'))!)).sha,
        digestOf(size, winner),
      );
    });

    test('a writer whose stream fails midway leaves no blob behind, and the key stays free', async () => {
      const s = scope('blob-fail');
      async function* failing(): AsyncGenerator<Buffer> {
        yield Buffer.alloc(BLOB_CHUNK_BYTES * 2, 1);
        throw new Error('git died');
      }
      await assert.rejects(store.putBlob('checkpoints', s, 'cp.bundle', failing()), /git died/);
      assert.equal(await store.getBlob('checkpoints', s, 'cp.bundle'), undefined);
      assert.equal(await store.putBlob('checkpoints', s, 'cp.bundle', asyncPieces(10, 1)), true);
    });

    test('the Telegram question index: a record one host writes, another reads; the first record of a message stands', async () => {
      const other = await backend.open();
      try {
        const chatId = `-100${process.pid}${randomBytes(2).readUInt16BE()}`;
        const sender = new TelegramQuestionIndex(store);
        const listener = new TelegramQuestionIndex(other);
        const ref = { chatId, messageId: 7, batchId: 'b', taskId: 't', workflowId: 'b/t', questionId: 'q1' };
        assert.equal(await listener.get(chatId, 7), undefined);
        await sender.put(ref);
        assert.deepEqual(await listener.get(chatId, 7), ref);
        // A retried notification writes again; the record the listener may already have used stays.
        await listener.put({ ...ref, questionId: 'q2' });
        assert.deepEqual(await sender.get(chatId, 7), ref);
        assert.equal(await listener.get(chatId, 8), undefined);
        assert.equal(await listener.get(`${chatId}9`, 7), undefined);
      } finally {
        await other.close();
      }
    });

    test('the lessons and a learned skill the starting machine has reach a prompt built on a host that has neither', async () => {
      const startRoot = mkdtempSync(path.join(os.tmpdir(), 'nightshift-store-start-'));
      const lessonId = randomBytes(4).toString('hex');
      const lesson = {
        id: lessonId,
        text: `Run the linter before finishing (${lessonId})`,
        source: 'feedback/2026-11-20.md',
        date: '2026-11-20',
        addedAt: new Date().toISOString(),
      };
      await store.putIfAbsent('lessons', LESSON_LIST_SCOPE, `${lessonId}.json`, JSON.stringify(lesson));
      await writeStoredSkill(store, 'learned', 'migrations', 'Write a down migration for every up migration.\n');
      const batchId = scope('lessons').replace('/', '-');
      writeFileSync(
        path.join(startRoot, 'night.yaml'),
        'tasks:\n  - id: t1\n    title: one\n    skills_required: [migrations]\n',
      );
      const validated = await loadBatchSpec('night.yaml', startRoot);
      const ref = await storeValidatedSpec(store, batchId, validated, startRoot);
      const stored = JSON.parse((await store.get('specs', batchId, specKeys.validated(ref.hash)))!) as BatchSpec;
      const task = stored.tasks[0];
      assert.ok(task.lessonsHash && task.skillHashes?.migrations, 'the task records both hashes');

      const otherHost = mkdtempSync(path.join(os.tmpdir(), 'nightshift-store-host-'));
      const other = await backend.open();
      try {
        const prompt = await buildSystemPrompt(task, directoryReader(otherHost), {
          root: otherHost,
          storedSkill: (h) => other.get('skills', SKILL_SCOPE, skillKey(h)),
          storedLessons: (h) => other.get('lessons', LESSONS_SCOPE, lessonsKey(h)),
        });
        assert.match(prompt, /Lessons from earlier nights[\s\S]*Run the linter before finishing/);
        assert.match(prompt, /### migrations[\s\S]*Write a down migration/);
        // Without the store the other host has neither.
        const local = await buildSystemPrompt(task, directoryReader(otherHost), { root: otherHost });
        assert.doesNotMatch(local, /Run the linter|Write a down migration/);
      } finally {
        await other.close();
      }
    });

    test('keys that could name another place are refused', async () => {
      for (const key of ['../escape', 'a/b', '..', '', 'x y']) {
        await assert.rejects(store.put('transcripts', scope('keys'), key, 'v'), /invalid state store key/);
      }
    });
  });
}

test('file: the Telegram question index keeps its layout, .nightshift/telegram/questions/<chat>.<message>.json', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-store-telegram-'));
  const questions = path.join(root, '.nightshift', 'telegram', 'questions');
  const ref = { chatId: '-1004242', messageId: 31, batchId: 'b', taskId: 't', workflowId: 'b/t', questionId: 'q' };
  await TelegramQuestionIndex.forRoot({ root }).put(ref);
  assert.deepEqual(JSON.parse(readFileSync(path.join(questions, '-1004242.31.json'), 'utf8')), ref);
  // A record written before the store (same place, same name) is read as it is.
  const earlier = { ...ref, messageId: 30, questionId: 'earlier' };
  writeFileSync(path.join(questions, '-1004242.30.json'), JSON.stringify(earlier));
  assert.deepEqual(
    await new TelegramQuestionIndex(new FileStateStore({ dir: path.join(root, '.nightshift') })).get('-1004242', 30),
    earlier,
  );
  // A named scope is a directory name: one that could name another place is refused.
  await assert.rejects(
    new FileStateStore({ dir: path.join(root, '.nightshift') }).put('telegram', '../questions', 'x.json', 'v'),
    /invalid state store key/,
  );
});

test('postgres: workers starting together migrate the schema once, and again is a no-op', async () => {
  const url = pg.server.urlFor('nightshift_migrate');
  const admin = new Client({ connectionString: pg.server.url });
  await admin.connect();
  try {
    await admin.query('CREATE DATABASE nightshift_migrate');
  } finally {
    await admin.end();
  }
  const stores = await Promise.all(Array.from({ length: 5 }, () => PostgresStateStore.open(url)));
  await Promise.all(stores.map((s) => s.close()));
  const again = await PostgresStateStore.open(url);
  await again.close();
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ version: number }>('SELECT version FROM nightshift_schema ORDER BY version');
    assert.deepEqual(
      rows.map((r) => r.version),
      [1],
    );
  } finally {
    await c.end();
  }
});

test('postgres: an unreachable store fails at open, naming where it looked without the password', async () => {
  const url = `postgres://nightshift:secret-pw@127.0.0.1:1/nightshift`;
  await assert.rejects(PostgresStateStore.open(url), (err: Error) => {
    assert.match(err.message, /127\.0\.0\.1:1/);
    assert.doesNotMatch(err.message, /secret-pw/);
    return true;
  });
});

test('postgres: the morning report is kept in the shared store as well as in results/', async () => {
  const store = await PostgresStateStore.open(pg.server.url);
  try {
    const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-store-report-'));
    const batchId = `nightshift-test-${process.pid}-report`;
    const status: BatchStatus = {
      batchId,
      date: '2026-11-21',
      state: 'completed',
      startedAt: Date.UTC(2026, 10, 21, 1),
      endedAt: Date.UTC(2026, 10, 21, 2),
      tasks: [
        {
          taskId: 't1',
          title: 'one',
          workflowId: `${batchId}/t1`,
          status: 'succeeded',
          costUsd: 0.5,
          tokens: { input: 1, output: 1, cacheWrite: 0, cacheRead: 0 },
          turns: 1,
        },
      ],
    };
    const files = await createReportActivities({ root }, store).writeReport({ status, budgetUsd: 10 });
    for (const file of [files.markdown, files.json]) {
      assert.equal(
        await store.get('results', batchId, path.basename(file)),
        readFileSync(path.join(root, file), 'utf8'),
      );
    }
  } finally {
    await store.close();
  }
});
