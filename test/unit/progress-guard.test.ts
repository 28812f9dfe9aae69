/**
 * The no-progress guard (workflows/task/progress-guard.ts) on recorded turn sequences: what
 * progress looks like, the same failing command again and again, an edit flipped back and
 * forth, turns that learn nothing; nudged once, then stuck; thresholds from the settings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSpecIssue, SpecError } from '../../common/errors';
import { parseBatchYaml } from '../../taskfile/load';
import {
  newProgressState,
  observeTurn,
  type ProgressSettings,
  type TurnSeen,
} from '../../workflows/task/progress-guard';

const bash = (cmd: string, result: string) => ({ call: `bash ${cmd}`, result, summary: `bash: ${cmd}` });
const read = (file: string, result: string) => ({ call: `read ${file}`, result, summary: `read_file: ${file}` });

function run(turns: Omit<TurnSeen, 'turn'>[], settings?: ProgressSettings, start?: string) {
  const state = newProgressState(start);
  return turns.map((t, i) => observeTurn(state, { turn: i + 1, ...t }, settings));
}
const verdicts = (vs: ReturnType<typeof run>) => vs.map((v) => v.verdict);

test('a working agent: new files read, edits that move forward, a test that goes from failing to passing', () => {
  const vs = run(
    [
      { calls: [read('src/a.js', 'r1'), read('src/b.js', 'r2')] },
      { calls: [bash('npm test', 'fail-1')] },
      { calls: [{ call: 'edit a', result: 'ok-1', summary: 'edit_file: src/a.js' }], tree: 't1' },
      { calls: [bash('npm test', 'fail-2')] },
      { calls: [{ call: 'edit b', result: 'ok-2', summary: 'edit_file: src/b.js' }], tree: 't2' },
      { calls: [bash('npm test', 'pass')] },
    ],
    undefined,
    't0',
  );
  assert.deepEqual(verdicts(vs), ['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
});

test('the same failing command six times: nudged at the third, stuck at the sixth', () => {
  const vs = run(Array.from({ length: 6 }, () => ({ calls: [bash('npm test', 'same failure')] })));
  assert.deepEqual(verdicts(vs), ['ok', 'ok', 'nudge', 'ok', 'ok', 'stuck']);
  assert.match((vs[2] as { why: string }).why, /`bash: npm test` ran 3 times with the same result/);
});

test('the same passing test run after each edit is not a repeat: the workspace moved in between', () => {
  const vs = run(
    Array.from({ length: 6 }, (_, i) => ({
      calls: [{ call: `edit ${i}`, result: 'ok', summary: 'edit_file: a.js' }, bash('npm test', 'all pass')],
      tree: `t${i}`,
    })),
  );
  assert.deepEqual(verdicts(vs), ['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
});

test('a command whose result changes each time is not a repeat', () => {
  const vs = run(Array.from({ length: 6 }, (_, i) => ({ calls: [bash('npm test', `failure ${i}`)] })));
  assert.deepEqual(verdicts(vs), ['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
});

test('an edit flipped back and forth: nudged at the second return to an earlier tree, then stuck', () => {
  const flip = (i: number) => ({
    calls: [{ call: `write ${i % 2}`, result: 'written', summary: 'write_file: a.js' }, bash('npm test', `run ${i}`)],
    tree: i % 2 ? 'B' : 'A',
  });
  const vs = run(
    Array.from({ length: 8 }, (_, i) => flip(i)),
    undefined,
    'start',
  );
  // A, B, A (1st revisit), B (2nd: nudge), A (1st after the nudge), B (2nd: stuck)
  assert.deepEqual(verdicts(vs).slice(0, 6), ['ok', 'ok', 'ok', 'nudge', 'ok', 'stuck']);
  assert.match((vs[3] as { why: string }).why, /returned the workspace to an earlier state 2 times/);
});

test('turns that change nothing and learn nothing: idle_turns in a row', () => {
  const looking = [read('a', 'r1'), read('b', 'r2')];
  const vs = run([{ calls: looking }, ...Array.from({ length: 8 }, (_, i) => ({ calls: [looking[i % 2]] }))], {
    idleTurns: 4,
    repeats: 100,
  });
  assert.deepEqual(verdicts(vs), ['ok', 'ok', 'ok', 'ok', 'nudge', 'ok', 'ok', 'ok', 'stuck']);
  assert.match((vs[4] as { why: string }).why, /4 turns in a row changed no file and turned up nothing new/);
});

test('thresholds are settings: repeats 2 nudges at the second and stops at the fourth', () => {
  const vs = run(
    Array.from({ length: 4 }, () => ({ calls: [bash('make', 'err')] })),
    { repeats: 2 },
  );
  assert.deepEqual(verdicts(vs), ['ok', 'nudge', 'ok', 'stuck']);
});

test('the state survives a JSON round trip (it is carried across continue-as-new)', () => {
  const state = newProgressState();
  for (let i = 0; i < 2; i++) observeTurn(state, { turn: i + 1, calls: [bash('npm test', 'x')] });
  const carried = JSON.parse(JSON.stringify(state));
  assert.equal(observeTurn(carried, { turn: 3, calls: [bash('npm test', 'x')] }).verdict, 'nudge');
});

test('no_progress in a task file: a batch setting a task overrides key by key; bad values are errors at their line', () => {
  const [a, b, c] = parseBatchYaml(
    'no_progress:\n  repeats: 4\n  idle_turns: 10\ntasks:\n  - id: a\n  - id: b\n    no_progress:\n      repeats: 5\n  - id: c\n',
    'n.yaml',
  ).tasks;
  assert.deepEqual(a.noProgress, { repeats: 4, idleTurns: 10 });
  assert.deepEqual(b.noProgress, { repeats: 5, idleTurns: 10 });
  assert.deepEqual(c.noProgress, { repeats: 4, idleTurns: 10 });
  assert.equal(parseBatchYaml('tasks:\n  - id: a\n', 'n.yaml').tasks[0].noProgress, undefined);
  assert.throws(
    () => parseBatchYaml('tasks:\n  - id: a\n    no_progress:\n      repeats: 1\n', 'n.yaml'),
    (err: SpecError) => {
      assert.deepEqual(err.issues.map(formatSpecIssue), ['n.yaml:4 tasks[0].no_progress.repeats: must be 2 or more']);
      return true;
    },
  );
});
