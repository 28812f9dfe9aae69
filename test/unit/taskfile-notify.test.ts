/** The task-file fields of questions and notifications: defaults, overrides, and located errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSpecIssue, type SpecError } from '../../common/errors';
import { parseBatchYaml } from '../../taskfile/load';

test('question_timeout and on_question_timeout: batch defaults, task overrides; notify is normalized', () => {
  const spec = parseBatchYaml(
    [
      'question_timeout: 2h',
      'on_question_timeout: park',
      'notify:',
      '  events: [question, batch_finished]',
      '  telegram: { chat_id: -100123 }',
      '  webhook: { url: "http://127.0.0.1:9000/hook" }',
      'tasks:',
      '  - id: a',
      '  - id: b',
      '    question_timeout: 30m',
      '    on_question_timeout: fail',
      '',
    ].join('\n'),
    'night.yaml',
  );
  assert.deepEqual(
    spec.tasks.map((t) => [t.id, t.questionTimeoutMs, t.onQuestionTimeout]),
    [
      ['a', 7_200_000, 'park'],
      ['b', 1_800_000, 'fail'],
    ],
  );
  assert.deepEqual(spec.notify, {
    events: ['question', 'batch_finished'],
    telegram: { chatId: '-100123' },
    webhook: { url: 'http://127.0.0.1:9000/hook' },
  });
  const plain = parseBatchYaml('tasks:\n  - id: a\n', 'plain.yaml');
  assert.equal(plain.tasks[0].questionTimeoutMs, 8 * 3_600_000);
  assert.equal(plain.tasks[0].onQuestionTimeout, 'continue');
  assert.equal(plain.notify, undefined);
});

test('bad notify and question settings are reported with file, line and field', () => {
  const text = [
    'on_question_timeout: wait',
    'notify:',
    '  events: [question, coffee]',
    '  slack: { webhook_url: not-a-url }',
    '  email: { to: me }',
    'tasks:',
    '  - id: a',
    '    on_question_timeout: later',
    '',
  ].join('\n');
  assert.throws(
    () => parseBatchYaml(text, 'night.yaml'),
    (err: SpecError) => {
      const lines = err.issues.map(formatSpecIssue);
      assert.ok(
        lines.includes('night.yaml:1 on_question_timeout: must be one of continue, park, fail'),
        lines.join('\n'),
      );
      assert.ok(
        lines.some((l) => /^night\.yaml:3 notify\.events\[1\]: must be among question, budget_warning/.test(l)),
        lines.join('\n'),
      );
      assert.ok(lines.includes('night.yaml:4 notify.slack.webhook_url: must be an http(s) URL'), lines.join('\n'));
      assert.ok(
        lines.some((l) => /^night\.yaml:5 notify\.email: unknown key "email"/.test(l)),
        lines.join('\n'),
      );
      assert.ok(
        lines.includes('night.yaml:8 tasks[0].on_question_timeout: must be one of continue, park, fail'),
        lines.join('\n'),
      );
      return true;
    },
  );
});
