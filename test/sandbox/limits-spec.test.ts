/**
 * `sandbox.limits` in task files: validated with clear messages, merged field by field,
 * and carried by the agent's createSandbox activity to the commands it runs.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAgentActivities } from '../../activities/task/sandbox-steps';
import { FileTranscriptStore } from '../../activities/task/transcripts';
import { SpecError } from '../../common/errors';
import { createLocalProvider, shutdownIsolation } from '../../sandbox/local';
import { cgroupBases } from '../../sandbox/resource-cgroup';
import { routeSandboxes } from '../../sandbox/router';
import { parseBatchYaml } from '../../taskfile/load';

after(() => shutdownIsolation());

const batch = (sandbox: string, task = '') =>
  `sandbox:\n${sandbox}\ntasks:\n  - id: a\n    description: do it\n${task}\n  - id: b\n    description: other\n`;

test('task limits override the batch limits field by field; none given means none recorded', () => {
  const spec = parseBatchYaml(
    batch(
      '  limits: { memory_mb: 512, cpus: 0.5, open_files: 256 }',
      '    sandbox:\n      limits: { memory_mb: 1024, disk_mb: 200 }',
    ),
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

test("a task's limits reach its sandbox through createAgentSandbox", async () => {
  const spec = parseBatchYaml(
    batch('  limits: { memory_mb: 256 }', '    sandbox:\n      limits: { open_files: 200, cpus: 0.5 }'),
    'thread.yaml',
  );
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-limits-'));
  const provider = createLocalProvider({ root: path.join(root, 'sandboxes') });
  const agent = createAgentActivities({
    config: { root },
    sandboxes: routeSandboxes({ local: provider }),
    transcripts: new FileTranscriptStore({ dir: path.join(root, 'transcripts') }),
  });
  const { sandboxId } = (await new MockActivityEnvironment().run(agent.createAgentSandbox, {
    workflowId: 'night/limits',
    sandbox: spec.tasks[0].sandbox,
  })) as { sandboxId: string };
  const sb = await provider.connect(sandboxId);
  try {
    const r = await sb.exec('ulimit -n');
    assert.equal(r.stdout, '200\n');
    const memory = cgroupBases().memory;
    if (memory) {
      const file = memory.version === 1 ? 'memory.limit_in_bytes' : 'memory.max';
      assert.equal(fs.readFileSync(path.join(memory.dir, sandboxId, file), 'utf8').trim(), String(256 * 1024 * 1024));
    }
  } finally {
    await sb.kill();
    fs.rmSync(root, { recursive: true, force: true });
  }
});
