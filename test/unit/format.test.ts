/** CLI tables fit the terminal, give scripts every character, and `status --watch` redraws in place. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import stringWidth from 'string-width';
import type { TaskResult } from '../../contract';
import { padToWidth, redrawer, table, taskTable, terminalColumns, truncate } from '../../client/format';
import { renderQuestions, type ListedQuestion } from '../../client/commands/questions';

const task = (taskId: string, summary: string): TaskResult =>
  ({
    taskId,
    status: 'succeeded',
    costUsd: 1.25,
    tokens: { input: 1000, output: 200, cacheRead: 0, cacheWrite: 0 },
    turns: 7,
    summary,
  }) as TaskResult;

const long =
  'Refactored the parser so that nested quotes survive a round trip, and added tests for the three cases the issue listed';

test('at 80 columns the RESULT column is cut with an ellipsis and no line wraps', () => {
  const out = taskTable([task('fix-parser', long), task('docs', 'short')], Date.now(), { width: 80 });
  const lines = out.split('\n');
  for (const l of lines) assert.ok(stringWidth(l) <= 80, `${stringWidth(l)} columns: ${l}`);
  assert.match(lines[1], /^fix-parser +succeeded +\$1\.25 +1200 +7 +- +Refactored the parser.*…$/);
  assert.match(lines[2], /  short$/, 'a short result is left whole');
});

test('with no width (a pipe, a file) nothing is cut', () => {
  const out = taskTable([task('fix-parser', long)], Date.now(), { width: undefined });
  assert.ok(out.includes(long));
  assert.equal(terminalColumns({ isTTY: false, columns: 80 } as NodeJS.WriteStream), undefined);
  assert.equal(terminalColumns({ isTTY: true, columns: 120 } as NodeJS.WriteStream), 120);
});

test('only the free-text columns are cut: the answer command in `questions` stays whole to paste', () => {
  const command = 'nightshift answer fix-parser "…" --batch nightly-2026-11-29';
  const q = { taskId: 'fix-parser', ageMs: 65_000, question: long, answerCommand: command } as ListedQuestion;
  const width = process.stdout.isTTY ? process.stdout.columns : undefined;
  const out = renderQuestions([q]);
  // The command's first word is spelled as it runs here (npx nightshift, a path); the rest is as given.
  assert.ok(out.includes('answer fix-parser "…" --batch nightly-2026-11-29'), out);
  if (width === undefined) assert.ok(out.includes(long), 'not a terminal here: the question is whole');
  const narrow = table(['TASK', 'AGE', 'QUESTION', 'ANSWER WITH'], [['fix-parser', '1m5s', long, command]], {
    fit: ['QUESTION'],
    width: 100,
  });
  assert.ok(narrow.includes(command));
  assert.ok(!narrow.includes(long) && narrow.includes('…'));
  for (const l of narrow.split('\n')) assert.ok(stringWidth(l) <= 100, l);
});

test('a free-text column is not cut below a readable width, even if the line then wraps', () => {
  const out = table(['ID', 'TEXT'], [['x'.repeat(40), long]], { fit: ['TEXT'], width: 30 });
  const cell = out.split('\n')[1].slice(42);
  assert.equal(stringWidth(cell), 12);
  assert.ok(cell.endsWith('…'));
});

test('wide characters count two columns, so columns stay aligned and cuts land on a character', () => {
  const out = table(
    ['TASK', 'TITLE'],
    [
      ['日本語のタスク', '説明文がとても長いタイトルです'],
      ['en', 'plain'],
    ],
    { fit: ['TITLE'], width: 30 },
  );
  const [head, cjk, en] = out.split('\n');
  assert.equal(head.indexOf('TITLE'), 16);
  assert.equal(stringWidth(cjk.slice(0, cjk.indexOf('説'))), 16);
  assert.equal(en.indexOf('plain'), 16);
  assert.ok(stringWidth(cjk) <= 30, cjk);
  assert.equal(truncate('説明文', 4), '説…');
  assert.equal(padToWidth('日本', 6), '日本  ', 'the progress lines of start --wait pad by display width too');
});

class Screen extends Writable {
  written = '';
  isTTY = true;
  columns = 40;
  rows = 24;
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.written += chunk.toString();
    done();
  }
}

test('the watch redraw moves up over the last frame and clears it, rather than clearing the screen', () => {
  const screen = new Screen();
  const draw = redrawer(screen as unknown as NodeJS.WriteStream);
  draw('frame one\nline two\nline three');
  const first = screen.written;
  assert.ok(!first.includes('\x1b[2J'), 'the screen is never wiped');
  screen.written = '';
  draw('frame two');
  // Up three rows, to column one, clear downwards, then the new frame.
  assert.equal(screen.written, '\x1b[3A\x1b[1G\x1b[0Jframe two\n');
  screen.written = '';
  draw('x'.repeat(100));
  assert.ok(screen.written.startsWith('\x1b[1A'), 'one row up over "frame two"');
  screen.written = '';
  draw('after');
  assert.ok(screen.written.startsWith('\x1b[3A'), 'a 100-character line wrapped onto three 40-column rows');
});
