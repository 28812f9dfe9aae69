/** `nightshift estimate`: default priors, pulled toward a fixture history of finished tasks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { estimateNight, loadHistory } from '../../activities/planning/estimate';
import { writeReportFiles } from '../../activities/night/report';
import { estimateCommand, renderEstimate } from '../../client/commands/estimate';
import { loadConfig } from '../../common/config';
import { useModelTable } from '../../common/models';
import { installModelFile } from '../../common/models-file';
import { parseBatchYaml } from '../../taskfile/load';
import type { BatchStatus } from '../../contract';

const rec = (
  task: string,
  state: string,
  model: string | undefined,
  complexity: string,
  costUsd: number,
  hours: number,
  extra: object = {},
) => ({
  task,
  state,
  status: state === 'succeeded' ? 'success' : state,
  model,
  complexity,
  costUsd,
  startedAt: '2026-11-01T22:00:00.000Z',
  endedAt: new Date(Date.parse('2026-11-01T22:00:00.000Z') + hours * 3_600_000).toISOString(),
  ...extra,
});

function fixtureRoot(): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-estimate-'));
  mkdirSync(path.join(root, 'results'));
  writeFileSync(
    path.join(root, 'results/2026-11-01.json'),
    JSON.stringify({
      date: '2026-11-01',
      results: [
        rec('a', 'succeeded', 'claude-sonnet-5-5', 'medium', 2, 2),
        rec('b', 'succeeded', 'claude-haiku-5-5', 'low', 0.1, 0.5),
        rec('c', 'skipped', undefined, 'medium', 0, 0),
      ],
    }),
  );
  writeFileSync(
    path.join(root, 'results/2026-11-02.json'),
    JSON.stringify({
      date: '2026-11-02',
      results: [
        rec('d', 'succeeded', 'claude-sonnet-5-5', 'medium', 3, 1),
        rec('e', 'failed', 'claude-sonnet-5-5', 'medium', 1, 0.5),
        // A retired model's cost says nothing about the current one's (its time still counts).
        rec('g', 'succeeded', 'claude-sonnet-4-5-20250929', 'high', 9, 4),
        // The offline replay model costs nothing and says nothing about real nights.
        rec('f', 'succeeded', 'replay:example', 'medium', 0, 0.01, { replay: true }),
        // A command task (no model answered it) of the default complexity: minutes, not an agent's hours.
        rec('lint', 'succeeded', undefined, 'medium', 0, 0.02),
        // This night's own command task ran before: its time is its estimate.
        rec('fmt', 'succeeded', undefined, 'medium', 0, 0.1),
      ],
    }),
  );
  writeFileSync(path.join(root, 'results/2026-11-02-notes.json'), JSON.stringify({ not: 'a results file' }));
  writeFileSync(
    path.join(root, 'night.yaml'),
    `max_cost_usd: 8
tasks:
  - { id: t1, estimated_complexity: low }
  - { id: t2, estimated_complexity: medium, depends_on: t1 }
  - { id: t3, estimated_complexity: medium, depends_on: t1 }
  - { id: t4, estimated_complexity: high, depends_on: t2, agent_config: { max_cost_usd: 5 } }
  - { id: fmt, command: "echo formatted" }
`,
  );
  return root;
}

test('history by model and complexity pulls the prior; tasks with no history keep the prior; the night says whether it fits', async () => {
  const root = fixtureRoot();
  const e = await estimateCommand({ ...loadConfig(), root }, 'night.yaml');
  const row = (id: string) => e.tasks.find((t) => t.id === id)!;
  // haiku 5.5/low: prior 300k in (84 % read from cache x $0.01, 16 % written x $0.125) + 20k out x $0.50 = $0.01852,
  // weight 2, one task at $0.10: (0.03704 + 0.1) / 3.
  assert.deepEqual(
    [row('t1').model, row('t1').costUsd, row('t1').hours, row('t1').costSamples],
    ['claude-haiku-5-5', 0.05, 0.83, 1],
  );
  // sonnet 5.5/medium: prior 840k x $0.20 + 160k x $2.50 + 60k x $10 = $1.168 and 2.5 h; observed $2 and $3 over 2 h and 1 h. The failed, skipped, replayed and command tasks do not count: (2 x 1.168 + 5) / 4.
  assert.deepEqual(
    [row('t2').costUsd, row('t2').hours, row('t2').costSamples, row('t2').hoursSamples],
    [1.83, 2, 2, 2],
  );
  // opus 5.5/high: no history on this model, so the cost prior (2.1M x $0.20 + 400k x $5 + 150k x $20 = $5.42); the sonnet 4.5 high task's 4 h leaves the default 4 h; over the task's own $5 cap.
  assert.deepEqual(
    [
      row('t4').model,
      row('t4').costUsd,
      row('t4').hours,
      row('t4').costSamples,
      row('t4').hoursSamples,
      row('t4').overTaskCap,
    ],
    ['claude-opus-5-5', 5.42, 4, 0, 1, true],
  );
  assert.deepEqual(
    [row('fmt').model, row('fmt').costUsd, row('fmt').hours, row('fmt').hoursSamples],
    ['command', 0, 0.1, 1],
  );
  assert.equal(e.costUsd, 9.13);
  // Critical path t1 -> t2 -> t4 (0.83 + 2 + 4) is longer than the work over 3 agents.
  assert.equal(e.hours, 6.83);
  assert.equal(e.fits, false);
  // a, b, d and g: succeeded agent tasks on a live model.
  assert.equal(e.historyTasks, 4);
  const text = renderEstimate(e);
  assert.match(text, /night: \$9\.13 of \$8\.00 max_cost_usd — does NOT fit; about 6\.83h wall-clock/);
  assert.match(
    text,
    /t4\s+claude-opus-5-5\s+high\s+\$5\.42 \(over its max_cost_usd\)\s+4h\s+cost: prior, time: prior \+ 1$/m,
  );
});

test('without history every estimate is the prior, and a cheap night fits', () => {
  const spec = parseBatchYaml(
    'max_cost_usd: 5\ntasks:\n  - { id: a, estimated_complexity: low }\n  - { id: b, estimated_complexity: low }\n',
    'x.yaml',
  );
  const e = estimateNight(spec, []);
  assert.deepEqual(
    e.tasks.map((t) => [t.costUsd, t.hours]),
    [
      [0.02, 1],
      [0.02, 1],
    ],
  );
  assert.equal(e.fits, true);
  assert.equal(e.hours, 1);
});

test("the report's results file carries complexity and role, so tonight's results are tomorrow's history", async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-estimate-'));
  const status: BatchStatus = {
    batchId: 'nightshift-2026-11-03',
    date: '2026-11-03',
    state: 'completed',
    startedAt: 0,
    tasks: [
      {
        taskId: 'x',
        title: 'X',
        workflowId: 'w',
        status: 'succeeded',
        costUsd: 1.5,
        tokens: { input: 1, output: 1, cacheRead: 0, cacheWrite: 0 },
        turns: 3,
        model: 'claude-opus-4-5',
        complexity: 'high',
        role: 'backend',
        startedAt: 1_000,
        endedAt: 3_601_000,
      },
    ],
  };
  await writeReportFiles(root, status, 10);
  const h = await loadHistory(root);
  assert.deepEqual(h, [
    {
      date: '2026-11-03',
      task: 'x',
      state: 'succeeded',
      model: 'claude-opus-4-5',
      complexity: 'high',
      role: 'backend',
      title: 'X',
      costUsd: 1.5,
      hours: 1,
      replay: undefined,
    },
  ]);
});

test('the estimate prices priors from the model table in force: a user model file changes it, an unknown model pays the dearest row', () => {
  const spec = parseBatchYaml(
    'tasks:\n  - { id: a, estimated_complexity: medium }\n  - { id: b, agent_config: { model: claude-future-9 }, estimated_complexity: low }\n',
    'x.yaml',
  );
  // sonnet 5.5 prior: $1.168 (above); the unknown model at the dearest rates: 252k × $1 + 48k × $12.50 + 20k × $50 = $1.852.
  assert.deepEqual(
    estimateNight(spec, []).tasks.map((t) => [t.model, t.costUsd]),
    [
      ['claude-sonnet-5-5', 1.17],
      ['claude-future-9', 1.85],
    ],
  );
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nightshift-estimate-models-'));
  writeFileSync(
    path.join(dir, 'models.json'),
    JSON.stringify({
      models: {
        'claude-sonnet-5-5': { prices: { input: 1, output: 5, cacheWrite5m: 1.25, cacheWrite1h: 2, cacheRead: 0.1 } },
      },
    }),
  );
  try {
    installModelFile(path.join(dir, 'models.json'));
    // 840k × $0.10 + 160k × $1.25 + 60k × $5 = $0.584.
    assert.equal(estimateNight(spec, []).tasks[0].costUsd, 0.58);
  } finally {
    useModelTable(undefined);
  }
});

test('simple mode is priced as one uncached call, at the Batches API discount when it will batch', () => {
  const spec = parseBatchYaml(
    [
      'tasks:',
      '  - { id: batched, simple_mode: true, agent_config: { model: haiku } }',
      '  - { id: direct, simple_mode: true, model_api: messages, agent_config: { model: haiku } }',
      '  - { id: hurried, simple_mode: true, timeout: 1h, agent_config: { model: haiku } }',
      '',
    ].join('\n'),
    'x.yaml',
  );
  const e = estimateNight(spec, []);
  // haiku 5.5: 40k in × $0.10 + 4k out × $0.50 = $0.006, half in a batch; a 1-hour timeout leaves no hour to wait for one.
  assert.deepEqual(
    e.tasks.map((t) => [t.id, t.costUsd, t.batch ?? false]),
    [
      ['batched', 0.003, true],
      ['direct', 0.006, false],
      ['hurried', 0.006, false],
    ],
  );
  assert.match(renderEstimate(e), /batched\s+claude-haiku-5-5 \(batch\)\s+medium\s+\$0\.0030/);
});
