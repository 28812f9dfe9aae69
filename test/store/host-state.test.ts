/**
 * What used to stay on one worker's disk, now in the state store, against both
 * implementations: a record host A writes (its own NIGHTSHIFT_ROOT) is what host B reads
 * (another root), and what `nightshift` reads from the store NIGHTSHIFT_STORE names.
 *
 * `file` is one machine: both hosts' stores are the `file` store of the same root, the one
 * the CLI is given, and its layout is today's. `postgres` is two hosts with no shared disk:
 * each has a fresh root and the CLI runs in a third.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PassThrough, Readable } from 'node:stream';
import { promisify } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import { learnSkill } from '../../activities/learning/learn-skill';
import { approveSkill, findSkill, listSkills, readSkill, rejectSkill } from '../../activities/learning/skills';
import { importFeedback, listLessons, type Lesson } from '../../activities/learning/store';
import { buildSystemPrompt, directoryReader } from '../../activities/task/prompt';
import { createAnthropicClient } from '../../activities/model/client';
import { transcriptsIn } from '../../activities/task/transcripts';
import { fileStoreFor, type StateStore } from '../../common/store';
import { PostgresStateStore } from '../../common/store/postgres';
import { message, startFakeAnthropic, toolUse } from '../fakes/anthropic-server';
import { continueSession, planCommand, runPlanningRepl } from '../../client/commands/plan';
import { loadConfig } from '../../common/config';
import { FINDINGS_FILE, createImproveActivities } from '../../activities/planning/improve';
import { createSpecActivities } from '../../activities/night/spec';
import { agentSpec } from '../agent/helpers';
import { postgresForFile } from '../helpers/postgres';
import { nightshiftBin } from '../helpers/bin';

const run = promisify(execFile);
const pg = postgresForFile();

const tmp = (name: string) => mkdtempSync(path.join(os.tmpdir(), `nightshift-hoststate-${name}-`));

interface Backend {
  name: string;
  /** A store as a worker or CLI on a host with this root opens it. */
  open(hostRoot: string): Promise<StateStore>;
  /** Roots of host A, host B and the CLI's host. */
  roots(): { a: string; b: string; cli: string };
  /** What the CLI is started with to use this store. */
  cliEnv(): Record<string, string>;
}

/** One machine: every "host" is this root. */
const machineRoot = tmp('machine');
const backends: Backend[] = [
  {
    name: 'file',
    open: async () => fileStoreFor({ root: machineRoot }),
    roots: () => ({ a: machineRoot, b: machineRoot, cli: machineRoot }),
    cliEnv: () => ({ NIGHTSHIFT_STORE: 'file' }),
  },
  {
    name: 'postgres',
    open: () => PostgresStateStore.open(pg.server.url),
    roots: () => ({ a: tmp('a'), b: tmp('b'), cli: tmp('cli') }),
    cliEnv: () => ({ NIGHTSHIFT_STORE: pg.server.url }),
  },
];

/** `nightshift ARGS` as a person types it on the CLI's host, with the backend's store. */
async function nightshift(backend: Backend, root: string, ...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [nightshiftBin(), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, NIGHTSHIFT_ROOT: root, ...backend.cliEnv() },
  });
  return stdout;
}

/** Names unique per run, so the postgres tests never see another run's rows. */
const unique = (name: string) => `${name}-${process.pid}-${randomBytes(3).toString('hex')}`;

for (const backend of backends) {
  describe(`${backend.name} store`, () => {
    const opened: StateStore[] = [];
    const open = async (root: string) => {
      const s = await backend.open(root);
      opened.push(s);
      return s;
    };
    after(async () => {
      await Promise.all(opened.map((s) => s.close()));
    });

    describe('learned and pending skills', () => {
      let fake: Awaited<ReturnType<typeof startFakeAnthropic>>;
      before(async () => {
        fake = await startFakeAnthropic({
          byTurn: (_turn, req) => {
            const confident = JSON.stringify(req.body.messages).includes('confident');
            return message([
              toolUse('toolu_skill', 'record_skill', {
                title: confident ? 'Migrations' : 'A hunch',
                when_to_use: 'schema changes',
                pattern: confident ? 'Write the down migration too.' : 'Maybe squash them.',
                confidence: confident ? 0.9 : 0.3,
              }),
            ]);
          },
        });
      });
      after(async () => {
        await fake.close();
      });

      test("a skill host A learned is on host B's shelf, a retry on B does not ask again, and the CLI lists, approves and rejects from the store", async () => {
        const roots = backend.roots();
        const [storeA, storeB] = [await open(roots.a), await open(roots.b)];
        const anthropic = createAnthropicClient({ anthropic: { apiKey: 'sk-test', baseUrl: fake.url } });
        const [learned, pending, dropped] = [
          unique('confident-skill'),
          unique('pending-skill'),
          unique('dropped-skill'),
        ];
        const task = (name: string) => ({
          workflowId: `night-${name}/t@run-1`,
          task: {
            id: 't',
            title: name.startsWith('confident') ? 'be confident' : 'guess',
            description: '',
            acceptanceCriteria: [],
            updateSkill: name,
          },
          date: '2026-11-21',
        });
        const asked = fake.requests.length;
        const first = await learnSkill({ anthropic, transcripts: transcriptsIn(storeA), store: storeA }, task(learned));
        assert.equal(first.status, 'learned');
        assert.equal(
          (await learnSkill({ anthropic, transcripts: transcriptsIn(storeA), store: storeA }, task(pending))).status,
          'pending',
        );
        assert.equal(
          (await learnSkill({ anthropic, transcripts: transcriptsIn(storeA), store: storeA }, task(dropped))).status,
          'pending',
        );

        // The activity's retry lands on host B: it finds the skill and asks nobody.
        assert.deepEqual(
          await learnSkill({ anthropic, transcripts: transcriptsIn(storeB), store: storeB }, task(learned)),
          { ...first, costUsd: 0 },
        );
        assert.equal(fake.requests.length - asked, 3, 'one model call per skill');
        // Host B prompts with it.
        assert.match((await readSkill({ root: roots.b, store: storeB }, learned))!, /Write the down migration too\./);
        const onB = (await listSkills({ root: roots.b, store: storeB })).filter((s) =>
          [learned, pending, dropped].includes(s.name),
        );
        assert.deepEqual(
          onB.map((s) => [s.name, s.status, s.confidence]).sort(),
          [
            [learned, 'learned', 0.9],
            [pending, 'pending', 0.3],
            [dropped, 'pending', 0.3],
          ].sort(),
        );

        // A person on a third machine reviews them.
        const listed = JSON.parse(await nightshift(backend, roots.cli, 'skills', 'list', '--json')) as {
          name: string;
          status: string;
        }[];
        assert.deepEqual(
          listed.filter((s) => s.name === pending).map((s) => s.status),
          ['pending'],
        );
        assert.match(
          await nightshift(backend, roots.cli, 'skills', 'show', learned),
          /^---\nname: [^\n]+\nconfidence: 0\.9\n[\s\S]*Write the down migration too\./,
        );
        assert.match(
          await nightshift(backend, roots.cli, 'skills', 'approve', pending),
          new RegExp(`approved: skills/learned/${pending}\\.md`),
        );
        assert.match(
          await nightshift(backend, roots.cli, 'skills', 'reject', dropped),
          new RegExp(`rejected ${dropped}`),
        );
        // Host A sees what the person did.
        assert.equal((await findSkill({ root: roots.a, store: storeA }, pending)).meta.status, 'learned');
        assert.match((await readSkill({ root: roots.a, store: storeA }, pending))!, /Maybe squash them\./);
        await assert.rejects(findSkill({ root: roots.a, store: storeA }, dropped), /no skill/);
        await assert.rejects(rejectSkill({ root: roots.b, store: storeB }, pending), /no pending skill/);

        if (backend.name === 'file') {
          // One machine keeps today's layout: the files are where people have always found them.
          assert.match(
            readFileSync(path.join(machineRoot, 'skills', 'learned', `${pending}.md`), 'utf8'),
            /approved: \d{4}-\d\d-\d\d/,
          );
          assert.ok(existsSync(path.join(machineRoot, 'skills', 'learned', `${learned}.md`)));
          assert.ok(!existsSync(path.join(machineRoot, 'skills', 'pending', `${dropped}.md`)));
        } else {
          // Nothing of it is on either host's disk.
          for (const r of [roots.a, roots.b, roots.cli])
            assert.ok(!existsSync(path.join(r, 'skills')), `${r} has no skills/`);
        }
      });
    });

    test("lessons host A read from feedback are in host B's prompts; the CLI lists and removes them in the store, and a removed one stays removed", async () => {
      const roots = backend.roots();
      const [storeA, storeB] = [await open(roots.a), await open(roots.b)];
      const tag = unique('lesson');
      mkdirSync(path.join(roots.a, 'feedback'), { recursive: true });
      writeFileSync(
        path.join(roots.a, 'feedback', `${tag}.md`),
        `# Feedback - 2026-11-21\n\n## t1: One\nRating: 2/5\n\nAction: Run the linter (${tag})\nAction: Write the changelog (${tag})\n`,
      );
      const imported = await importFeedback({ root: roots.a, store: storeA }, `feedback/${tag}.md`);
      assert.equal(imported.added.length, 2);
      // Read again on another host at once: nothing is added twice.
      assert.equal((await importFeedback({ root: roots.a, store: storeB }, `feedback/${tag}.md`)).added.length, 0);

      const mine = async (store: StateStore, root: string) =>
        (await listLessons({ root, store })).filter((l) => l.text.includes(tag));
      assert.deepEqual(
        (await mine(storeB, roots.b)).map((l) => l.text),
        [`Run the linter (${tag})`, `Write the changelog (${tag})`],
      );
      const prompt = await buildSystemPrompt(agentSpec({}), directoryReader(roots.b), { root: roots.b, store: storeB });
      assert.match(
        prompt,
        new RegExp(
          `## Lessons from earlier nights[\\s\\S]*- Run the linter \\(${tag}\\) \\(feedback 2026-11-21, t1 rated 2/5\\)`,
        ),
      );

      const listed = JSON.parse(await nightshift(backend, roots.cli, 'lessons', 'list', '--json')) as {
        id: string;
        text: string;
      }[];
      const linter = listed.find((l) => l.text === `Run the linter (${tag})`);
      assert.ok(linter, 'the CLI lists the lesson from the store');
      assert.match(
        await nightshift(backend, roots.cli, 'lessons', 'remove', linter.id),
        new RegExp(`removed ${linter.id}`),
      );
      assert.deepEqual(
        (await mine(storeA, roots.a)).map((l) => l.text),
        [`Write the changelog (${tag})`],
      );
      assert.equal(
        (await importFeedback({ root: roots.a, store: storeA }, `feedback/${tag}.md`)).added.length,
        0,
        'a removed lesson stays removed',
      );
      assert.doesNotMatch(
        await buildSystemPrompt(agentSpec({}), directoryReader(roots.b), { root: roots.b, store: storeB }),
        /Run the linter/,
      );
      if (backend.name === 'postgres')
        for (const r of [roots.b, roots.cli])
          assert.ok(!existsSync(path.join(r, '.nightshift')), `${r} has no .nightshift/`);
    });

    test('a planning session host A began is continued on host B; the CLI lists it from the store; an edit over a stale version is refused', async () => {
      const roots = backend.roots();
      const [configA, configB] = [roots.a, roots.b].map((root) =>
        loadConfig({ ...process.env, NIGHTSHIFT_ROOT: root, ...backend.cliEnv() }),
      );
      const goal = `Add a CLI and a config file ${unique('goal')}`;
      const planned = await planCommand(configA, goal, { date: '2026-12-01', heuristic: true });
      const id = planned.session.id;
      assert.equal(planned.session.version, 1);

      // Host B has neither the session nor the task file; it resumes from the store and edits.
      const onB = await continueSession(configB, id);
      assert.deepEqual(onB.draft, planned.session.draft);
      const out = new PassThrough();
      let printed = '';
      out.on('data', (c: Buffer) => (printed += c.toString()));
      const noStart = async () => {
        throw new Error('not started in this test');
      };
      const edited = await runPlanningRepl(configB, onB, {
        input: Readable.from(['add Write a changelog\n', 'approve\n', 'quit\n']),
        output: out,
        start: noStart,
      });
      assert.match(printed, /added task-\d+: Write a changelog/);
      assert.equal(edited.state, 'approved');
      assert.equal(edited.version, 3);
      // B wrote the task file from the session, on its own disk.
      assert.match(readFileSync(path.join(roots.b, edited.out), 'utf8'), /Write a changelog/);

      // Host A, still holding version 1, tries an edit: refused, and shown what B saved.
      const stale = new PassThrough();
      let told = '';
      stale.on('data', (c: Buffer) => (told += c.toString()));
      const afterA = await runPlanningRepl(configA, planned.session, {
        input: Readable.from(['remove task-001\n', 'quit\n']),
        output: stale,
        start: noStart,
      });
      assert.match(told, new RegExp(`refused: session ${id} was changed elsewhere`));
      assert.match(told, /reloaded version 3 \(approved\)[\s\S]*Write a changelog/);
      assert.equal(afterA.version, 3);
      assert.equal(afterA.draft.tasks.length, edited.draft.tasks.length, "nothing of B's edit was undone");

      const listed = JSON.parse(await nightshift(backend, roots.cli, 'plan', 'list', '--json')) as {
        id: string;
        state: string;
        version: number;
        draft: { tasks: { title: string }[] };
      }[];
      const mine = listed.find((x) => x.id === id);
      assert.ok(mine, 'the CLI lists the session from the store');
      assert.equal(mine.state, 'approved');
      assert.ok(mine.draft.tasks.some((t) => t.title === 'Write a changelog'));
      const shown = JSON.parse(await nightshift(backend, roots.cli, 'plan', 'continue', id, '--json')) as {
        version: number;
      };
      assert.equal(shown.version, 3);

      // A starts the night from version 3 while B has saved an edit since: the start is not refused, and B's edit stays.
      await runPlanningRepl(configB, await continueSession(configB, id), {
        input: Readable.from(['set task-001 title Renamed on B\n', 'quit\n']),
        output: new PassThrough(),
        start: noStart,
      });
      const started = await runPlanningRepl(configA, afterA, {
        input: Readable.from(['start\n']),
        output: new PassThrough(),
        start: async () => 'nightshift-2026-12-01',
      });
      assert.deepEqual([started.state, started.batchId, started.version], ['started', 'nightshift-2026-12-01', 5]);
      assert.equal(started.draft.tasks.find((t) => t.id === 'task-001')?.title, 'Renamed on B');
      assert.equal((await continueSession(configB, id)).state, 'started');
    });

    test('an improvement loop: the findings and summary host A kept are what a retry on host B returns, and the planned night loads on B', async () => {
      const roots = backend.roots();
      const [storeA, storeB] = [await open(roots.a), await open(roots.b)];
      const acts = (root: string, store: StateStore) =>
        createImproveActivities({
          config: { root },
          anthropic: undefined,
          store,
          shared: store.hostLocal ? undefined : store,
        });
      const env = new MockActivityEnvironment();
      const inActivity = <T>(fn: () => Promise<T>) => env.run(fn) as Promise<T>;
      const workflowId = unique('improve');
      const research = tmp('research');
      writeFileSync(
        path.join(research, FINDINGS_FILE),
        '## Tests are missing\n- add them\n\n## The docs are stale\n- rewrite them\n',
      );
      const ref = { workflowId, loop: 1, repo: 'https://example.invalid/app.git' };
      const input = { ...ref, date: '2026-12-01', workDir: research, batchId: `${workflowId}-loop-1-batch` };
      const onA = await inActivity(() => acts(roots.a, storeA).planFromFindings(input));
      assert.match(onA.findings, /Tests are missing/);
      // The retry lands on host B, which has neither the research workspace nor the task file.
      const onB = await inActivity(() =>
        acts(roots.b, storeB).planFromFindings({
          ...input,
          workDir: path.join(roots.b, 'no-such-workspace'),
          summary: 'something else',
        }),
      );
      assert.equal(onB.findings, onA.findings);
      assert.deepEqual(onB.taskIds, onA.taskIds);
      if (backend.name === 'postgres') {
        assert.ok(onA.storedSpec, 'the night is in the shared store');
        assert.deepEqual(onB.storedSpec, onA.storedSpec);
        assert.ok(!existsSync(path.join(roots.b, 'tasks')), 'host B did not plan again');
        const { tasks } = await createSpecActivities({ root: roots.b }, storeB).loadBatchSpec({
          storedSpec: onB.storedSpec,
        });
        assert.deepEqual(
          tasks.map((t) => t.id),
          onA.taskIds,
        );
      } else {
        // One machine: the batch reads the task file where the plan wrote it.
        assert.equal(onA.storedSpec, undefined);
        assert.ok(existsSync(path.join(machineRoot, onA.tasksFile)));
      }

      const tasks = (status: string) => [{ taskId: 'task-001', title: 'Add the tests', status, costUsd: 0.5 }];
      const summaryA = await inActivity(() =>
        acts(roots.a, storeA).writeLoopSummary({ ...ref, findings: onA.findings, tasks: tasks('succeeded') }),
      );
      assert.match(
        summaryA.text,
        /^# Loop 1 summary\n\nFindings: Tests are missing; The docs are stale\n[\s\S]*- task-001 Add the tests: succeeded/,
      );
      const summaryB = await inActivity(() =>
        acts(roots.b, storeB).writeLoopSummary({ ...ref, findings: onA.findings, tasks: tasks('failed') }),
      );
      assert.deepEqual(summaryB, summaryA, 'the retry returns the summary the first attempt kept');
      assert.equal(await storeB.get('improve', workflowId, 'loop-1-summary.md'), `${summaryA.text}\n`);
      if (backend.name === 'file')
        assert.equal(readFileSync(path.join(machineRoot, summaryA.file), 'utf8'), `${summaryA.text}\n`);
      else assert.match(summaryA.file, /^postgres:\/\/.* improve\/.*\/loop-1-summary\.md$/);
    });
  });
}

test('file: skills an existing user has in skills/learned/ and skills/pending/ are seen, approved and rejected as before', async () => {
  const root = tmp('existing');
  mkdirSync(path.join(root, 'skills', 'learned'), { recursive: true });
  mkdirSync(path.join(root, 'skills', 'pending'), { recursive: true });
  writeFileSync(path.join(root, 'skills', 'by-hand.md'), '# By hand\nAlways run the linter.\n');
  writeFileSync(
    path.join(root, 'skills', 'learned', 'old.md'),
    '---\nname: old\nconfidence: 0.8\n---\nKeep migrations reversible.\n',
  );
  writeFileSync(
    path.join(root, 'skills', 'pending', 'maybe.md'),
    '---\nname: maybe\nconfidence: 0.4\n---\nSquash migrations.\n',
  );
  const file = backends[0];
  const listed = JSON.parse(await nightshift(file, root, 'skills', 'list', '--json')) as {
    name: string;
    status: string;
    file: string;
  }[];
  assert.deepEqual(
    listed.map((s) => [s.name, s.status, s.file]),
    [
      ['by-hand', 'skill', 'skills/by-hand.md'],
      ['old', 'learned', 'skills/learned/old.md'],
      ['maybe', 'pending', 'skills/pending/maybe.md'],
    ],
  );
  const shelf = { root, store: fileStoreFor({ root }) };
  assert.equal(await readSkill(shelf, 'old'), 'Keep migrations reversible.\n');
  await approveSkill(shelf, 'maybe');
  assert.match(
    readFileSync(path.join(root, 'skills', 'learned', 'maybe.md'), 'utf8'),
    /^---\nname: maybe\nconfidence: 0\.4\napproved: [\d-]+\n---\nSquash migrations\.\n$/,
  );
  assert.ok(!existsSync(path.join(root, 'skills', 'pending', 'maybe.md')));
  // A person edits a learned skill by hand: the next read, in a process that read it before, sees the edit.
  writeFileSync(
    path.join(root, 'skills', 'learned', 'old.md'),
    '---\nname: old\n---\nKeep migrations reversible, and test the down step.\n',
  );
  assert.match((await readSkill(shelf, 'old'))!, /test the down step/);
});

test('file: the lessons an existing user has in .nightshift/learning/lessons.json move into the store, removals included', async () => {
  const root = tmp('existing-lessons');
  mkdirSync(path.join(root, '.nightshift', 'learning'), { recursive: true });
  mkdirSync(path.join(root, 'feedback'));
  writeFileSync(
    path.join(root, 'feedback', '2026-11-03.md'),
    '# Feedback - 2026-11-03\n\n## t1: One\nAction: Keep it small\nAction: Squash commits\n',
  );
  // The id a lesson has always had: its source, task and text.
  const idOf = (text: string) =>
    createHash('sha256').update(`feedback/2026-11-03.md\nt1\n${text}`).digest('hex').slice(0, 8);
  const legacy = path.join(root, '.nightshift', 'learning', 'lessons.json');
  const kept = {
    id: idOf('Keep it small'),
    text: 'Keep it small',
    source: 'feedback/2026-11-03.md',
    task: 't1',
    date: '2026-11-03',
    addedAt: '2026-11-04T08:00:00Z',
  };
  writeFileSync(legacy, JSON.stringify({ lessons: [kept], removed: [idOf('Squash commits')] }));
  const listed = JSON.parse(await nightshift(backends[0], root, 'lessons', 'list', '--json')) as Lesson[];
  assert.deepEqual(listed, [kept]);
  assert.ok(!existsSync(legacy) && existsSync(`${legacy}.migrated`), 'read once, then set aside');
  // Reading the feedback again adds neither the lesson it has nor the one a person removed.
  assert.deepEqual((await importFeedback({ root, store: fileStoreFor({ root }) }, 'feedback/2026-11-03.md')).added, []);
  assert.deepEqual(await listLessons({ root, store: fileStoreFor({ root }) }), [kept]);
});

test('file: planning sessions an existing user has in .nightshift/plans/<id>.json are listed and continued from the store', async () => {
  const root = tmp('existing-plans');
  const config = loadConfig({ ...process.env, NIGHTSHIFT_ROOT: root, NIGHTSHIFT_STORE: 'file' });
  // A session as the release before the store saved it (no version).
  const { session } = await planCommand(config, 'Write the docs', { date: '2026-11-30', heuristic: true });
  const { version: _version, ...old } = session;
  const store = fileStoreFor({ root });
  await store.delete('plans', 'sessions', `${session.id}.v000001.json`);
  mkdirSync(path.join(root, '.nightshift', 'plans'), { recursive: true });
  writeFileSync(
    path.join(root, '.nightshift', 'plans', 'legacy-session.json'),
    JSON.stringify({ ...old, id: 'legacy-session' }, null, 2),
  );
  const listed = JSON.parse(await nightshift(backends[0], root, 'plan', 'list', '--json')) as {
    id: string;
    version: number;
    from: string;
  }[];
  assert.deepEqual(
    listed.map((s) => [s.id, s.version, s.from]),
    [['legacy-session', 1, 'Write the docs']],
  );
  assert.ok(existsSync(path.join(root, '.nightshift', 'plans', 'legacy-session.json.migrated')));
  assert.equal((await continueSession(config, 'legacy-session')).draft.tasks.length, session.draft.tasks.length);
});
