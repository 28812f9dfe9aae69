/** Each malformed task file fails with exactly these messages: file, line, field, and what is wrong. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { formatSpecIssue, SpecError } from '../../common/errors';
import { loadBatchSpec } from '../../taskfile/load';

const DIR = path.join(__dirname, '..', 'fixtures', 'malformed');

const EXPECTED: Record<string, string[]> = {
  '01-yaml-syntax.yaml': ['01-yaml-syntax.yaml:5: YAML syntax: Missing closing "quote'],
  '02-unknown-dependency.yaml': ['02-unknown-dependency.yaml:9 tasks[1].depends_on[1]: unknown task id "task-09"'],
  '03-duplicate-id.yaml': [
    '03-duplicate-id.yaml:4 tasks[1].id: duplicate task id "task-001" (first declared at 03-duplicate-id.yaml:2)',
  ],
  '04-cycle.yaml': ['04-cycle.yaml:3 tasks[0].depends_on: dependency cycle: a -> c -> b -> a'],
  '05-wrong-type.yaml': ['05-wrong-type.yaml:3 tasks[0].depends_on: must be a string or a list of strings'],
  '06-negative-budget.yaml': ['06-negative-budget.yaml:1 max_cost_usd: must be more than 0 US dollars'],
  '07-non-numeric-budget.yaml': ['07-non-numeric-budget.yaml:1 max_cost_usd: must be a number of US dollars, e.g. 50'],
  '08-unknown-model.yaml': [
    '08-unknown-model.yaml:4 tasks[0].agent_config.model: unknown model alias "gpt-4"; use haiku, sonnet, opus or a full model ID (claude-...)',
  ],
  '09-unknown-key.yaml': [
    '09-unknown-key.yaml:3 tasks[0].descripton: unknown key "descripton"; did you mean "description"?',
  ],
  '10-unknown-batch-key.yaml': [
    '10-unknown-batch-key.yaml:1 max_concurent_agents: unknown key "max_concurent_agents"; did you mean "max_concurrent_agents"?',
  ],
  // A name or title would give it an ID (JSON task files give none); this task has neither.
  '11-missing-id.yaml': ['11-missing-id.yaml:2 tasks[0].id: is required (or a name to make it from)'],
  '12-bad-complexity.yaml': [
    '12-bad-complexity.yaml:3 tasks[0].estimated_complexity: must be one of low, medium, high',
  ],
  '13-empty-tasks.yaml': ['13-empty-tasks.yaml:2 tasks: must list at least one task'],
  '14-bad-date.yaml': ['14-bad-date.yaml:1 date: must be a date YYYY-MM-DD'],
  '15-unknown-trigger-next.yaml': [
    '15-unknown-trigger-next.yaml:6 on_completion.trigger_next[0]: unknown task id "wander-009"',
  ],
  '16-bad-id.yaml': [
    '16-bad-id.yaml:2 tasks[0].id: must be letters, digits, ".", "_" or "-" (at most 64), starting with a letter or digit',
  ],
  '17-self-dependency.yaml': ['17-self-dependency.yaml:3 tasks[0].depends_on: dependency cycle: loop -> loop'],
  '18-not-a-mapping.yaml': ['18-not-a-mapping.yaml:1: expected a batch (with tasks:) or a single task (with id:)'],
  '19-bad-sandbox-provider.yaml': [
    '19-bad-sandbox-provider.yaml:2 sandbox.provider: must be one of local, e2b, docker',
  ],
  '20-zero-turns-and-bad-timeout.yaml': [
    '20-zero-turns-and-bad-timeout.yaml:1 question_timeout: must be a duration such as "8h", "30m" or "90s"',
    '20-zero-turns-and-bad-timeout.yaml:5 tasks[0].agent_config.max_turns: must be a whole number above 0',
    '20-zero-turns-and-bad-timeout.yaml:6 tasks[0].agent_config.max_cost_usd: must be a number of US dollars, e.g. 50',
  ],
  '21-secret-in-sandbox-env.yaml': [
    '21-secret-in-sandbox-env.yaml:2 sandbox.env_allow: may not name a secret (GITHUB_TOKEN): keys and tokens stay in the worker',
  ],
};

for (const [file, expected] of Object.entries(EXPECTED)) {
  test(`malformed: ${file}`, async () => {
    await assert.rejects(loadBatchSpec(file, DIR), (err: unknown) => {
      assert.ok(err instanceof SpecError, `expected SpecError, got ${String(err)}`);
      assert.deepEqual(err.issues.map(formatSpecIssue), expected);
      return true;
    });
  });
}

test('several problems in one file are all reported at once, in line order', async () => {
  const { parseBatchYaml } = await import('../../taskfile/load');
  const text = [
    'max_cost_usd: 0',
    'tasks:',
    '  - id: a',
    '    depends_on: [ghost]',
    '  - id: a',
    '    agent_config: { model: gpt }',
    '',
  ].join('\n');
  assert.throws(
    () => parseBatchYaml(text, 'night.yaml'),
    (err: SpecError) => {
      assert.deepEqual(err.issues.map(formatSpecIssue), [
        'night.yaml:1 max_cost_usd: must be more than 0 US dollars',
        'night.yaml:4 tasks[0].depends_on[0]: unknown task id "ghost"',
        'night.yaml:5 tasks[1].id: duplicate task id "a" (first declared at night.yaml:3)',
        'night.yaml:6 tasks[1].agent_config.model: unknown model alias "gpt"; use haiku, sonnet, opus or a full model ID (claude-...)',
      ]);
      return true;
    },
  );
});

test('a missing file names the path', async () => {
  await assert.rejects(loadBatchSpec('nope.yaml', DIR), /nope\.yaml: no such file or directory/);
});
