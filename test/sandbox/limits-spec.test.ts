/** `sandbox.limits` in task files: validated with clear messages, merged field by field. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpecError } from '../../common/errors';
import { parseBatchYaml } from '../../spec/load';

const batch = (sandbox: string, task = '') => `sandbox:\n${sandbox}\ntasks:\n  - id: a\n    description: do it\n${task}\n  - id: b\n    description: other\n`;

test('task limits override the batch limits field by field; none given means none recorded', () => {
  const spec = parseBatchYaml(
    batch('  limits: { memory_mb: 512, cpus: 0.5, open_files: 256 }', '    sandbox:\n      limits: { memory_mb: 1024, disk_mb: 200 }'),
    'limits.yaml',
  );
  const [a, b] = spec.tasks;
  assert.deepEqual(a.sandbox.limits, { memoryMb: 1024, cpus: 0.5, openFiles: 256, diskMb: 200 });
  assert.deepEqual(b.sandbox.limits, { memoryMb: 512, cpus: 0.5, openFiles: 256 });
  const plain = parseBatchYaml(batch('  provider: local'), 'plain.yaml');
  assert.equal(plain.tasks[0].sandbox.limits, undefined);
});

test('bad limits are refused with the field and the reason', () => {
  const cases: [string, RegExp][] = [
    ['  limits: { memory_mb: 10 }', /sandbox\.limits\.memory_mb: must be at least 64/],
    ['  limits: { cpus: 0 }', /sandbox\.limits\.cpus: must be at least 0\.05/],
    ['  limits: { disk_mb: 1.5 }', /sandbox\.limits\.disk_mb: must be a whole number of MiB/],
    ['  limits: { open_files: "many" }', /sandbox\.limits\.open_files: must be a number/],
    ['  limits: { memory: 100 }', /sandbox\.limits\.memory: unknown key "memory"/],
  ];
  for (const [sandbox, message] of cases) {
    assert.throws(
      () => parseBatchYaml(batch(sandbox), 'bad.yaml'),
      (e: unknown) => e instanceof SpecError && message.test(e.message),
      sandbox,
    );
  }
});
