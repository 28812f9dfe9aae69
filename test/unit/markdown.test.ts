/** The one markdown helper the Web UI's current details go through, and the task's details. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mdCode, mdText, mdUsd } from '../../workflows/markdown';
import { taskDetails } from '../../workflows/night/progress';
import type { TaskStatus } from '../../contract';

test('text is escaped and kept on one line; money is text, not math', () => {
  assert.equal(mdText('a | b\n\nc $1 *x* `y` [z](u) <b>'), 'a \\| b c \\$1 \\*x\\* \\`y\\` \\[z\\](u) \\<b\\>');
  assert.equal(mdText('x'.repeat(10), 5), 'xxxx…');
  assert.equal(mdUsd(0), '\\$0.00');
  assert.equal(mdCode('nightshift answer t "…"'), '`nightshift answer t "…"`');
  assert.equal(mdCode('a `b` c'), '``a `b` c``');
});

test('a task waiting for an answer shows the question, its age and the command that answers it', () => {
  const askedAt = Date.UTC(2026, 10, 21, 2, 0);
  const status: TaskStatus = {
    taskId: 'wander-002',
    title: 'Nodes',
    workflowId: 'nightshift-2026-11-21/wander-002',
    status: 'waiting_for_answer',
    costUsd: 0.25,
    tokens: { input: 0, output: 0, cacheWrite: 0, cacheRead: 0 },
    turns: 3,
    activity: 'turn 3: waiting for an answer to "Which | store?"',
    questions: [
      {
        questionId: '3-tu_q',
        taskId: 'wander-002',
        workflowId: 'nightshift-2026-11-21/wander-002',
        question: 'Which store:\nSQLite or $PG?',
        assumption: 'SQLite',
        askedAt,
        deadline: askedAt + 3_600_000,
        onTimeout: 'continue',
        answerCommand: 'nightshift answer wander-002 "…" --batch nightshift-2026-11-21',
      },
    ],
  };
  const md = taskDetails(status, askedAt + 25 * 60_000);
  assert.match(md, /^\*\*waiting_for_answer\*\* · 3 turns · \\\$0\.25/);
  assert.ok(
    md.includes(
      '- wander-002 asks: Which store: SQLite or \\$PG? (asked 2026-11-21 02:00 UTC, 25 min ago; goes on with its assumption at 2026-11-21 03:00 UTC). Answer: `nightshift answer wander-002 "…" --batch nightshift-2026-11-21`',
    ),
    md,
  );
  assert.ok(md.includes('waiting for an answer to "Which \\| store?"'), md);
});
