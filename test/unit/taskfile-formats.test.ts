/** The seeds' task formats all normalise into one BatchSpec. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { loadBatchSpec, parseBatchSpec } from '../../taskfile/load';
import { DEFAULTS } from '../../taskfile/defaults';

const ROOT = path.join(__dirname, '..', '..');

test('folder mode: a directory of single-task files is one batch; trigger_next adds edges', async () => {
  const spec = await loadBatchSpec('tasks/wander', ROOT);
  assert.equal(spec.source, 'tasks/wander');
  assert.deepEqual(
    spec.tasks.map((t) => t.id),
    ['wander-001', 'wander-002', 'wander-003', 'wander-004'],
  );
  const w1 = spec.tasks[0];
  assert.equal(w1.title, 'Create TypeScript types');
  assert.equal(w1.priority, 1);
  assert.equal(w1.planFile, 'docs/plans/wander.md');
  assert.equal(w1.branch, 'feature/wander');
  assert.deepEqual(w1.skills, ['frontend-design']);
  assert.equal(w1.model, 'sonnet');
  assert.equal(w1.maxCostUsd, 10);
  assert.equal(w1.updateSkill, 'react-flow-types');
  assert.deepEqual(w1.triggerNext, ['wander-002', 'wander-003']);
  assert.deepEqual(spec.tasks[3].dependsOn, ['wander-002', 'wander-003']);
  assert.deepEqual(w1.source, { file: 'tasks/wander/wander-001.yaml', line: 2 });
});

test('a daily file with batch settings; name -> title, context_files, defaults', async () => {
  const spec = await loadBatchSpec('tasks/example-daily.yaml', ROOT);
  assert.equal(spec.date, '2025-11-18');
  assert.equal(spec.maxCostUsd, 50);
  assert.equal(spec.maxConcurrentAgents, DEFAULTS.maxConcurrentAgents);
  assert.equal(spec.questionTimeoutMs, 8 * 3600_000);
  assert.equal(spec.sandbox.provider, 'local');
  const [t1, t2] = spec.tasks;
  assert.equal(t1.title, 'Create documentation');
  assert.equal(t1.module, 'baptisms');
  assert.equal(t1.complexity, 'low');
  assert.equal(t1.priority, 1, 'the batch priority "high" is the default for its tasks');
  assert.deepEqual(t1.contextFiles, ['CLAUDE.md', 'docs/TESTING_GUIDE.md']);
  assert.equal(t1.maxTurns, 100);
  assert.equal(t1.createPr, true);
  assert.deepEqual(t2.dependsOn, ['task-001']);
});

test('inline spec objects get the same checks (no line numbers)', () => {
  assert.throws(
    () => parseBatchSpec({ tasks: [{ id: 'x', depends_on: ['y'] }] }),
    /spec tasks\[0\]\.depends_on\[0\]: unknown task id "y"/,
  );
  const ok = parseBatchSpec({
    max_concurrent_agents: 7,
    question_timeout: '30m',
    tasks: [{ id: 'x', command: 'true', timeout: 90 }],
  });
  assert.equal(ok.maxConcurrentAgents, 7);
  assert.equal(ok.questionTimeoutMs, 30 * 60_000);
  assert.equal(ok.tasks[0].timeoutMs, 90_000);
});

test('a task may override the batch sandbox settings; the rest are inherited', () => {
  const spec = parseBatchSpec({
    sandbox: { provider: 'local', network_allow: ['registry.npmjs.org'], env_allow: ['NODE_ENV'] },
    tasks: [{ id: 'a' }, { id: 'b', sandbox: { provider: 'e2b', template: 'node-20' } }],
  });
  assert.deepEqual(spec.tasks[0].sandbox, {
    provider: 'local',
    template: undefined,
    networkAllow: ['registry.npmjs.org'],
    envAllow: ['NODE_ENV'],
  });
  assert.deepEqual(spec.tasks[1].sandbox, {
    provider: 'e2b',
    template: 'node-20',
    networkAllow: ['registry.npmjs.org'],
    envAllow: ['NODE_ENV'],
  });
  assert.throws(
    () => parseBatchSpec({ tasks: [{ id: 'c', sandbox: { provider: 'vm' } }] }),
    /spec tasks\[0\]\.sandbox\.provider: must be one of local, e2b, docker/,
  );
});
