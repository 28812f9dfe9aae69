/**
 * Two improvement loops end to end on a real dev server, against a real git repository
 * and a scripted Messages API: research writes FINDINGS.md, the findings become at most
 * five tasks run as a batch, and the memory step's summary is what loop 2 reads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { MessagesRequest } from '../../demo/messages-server';
import { TASK_QUEUE } from '../../contract';
import { devServerForFile, testConfig, testWorker, uniqueBatchId } from '../helpers/temporal';
import { message, startFakeAnthropic, toolUse } from '../fakes/anthropic-server';
import { makeRepo } from '../sandbox/helpers';
import { withModel } from '../agent/helpers';
import type { ImproveInput, ImproveResult } from '../../contract';

const server = devServerForFile();

const tools = (req: MessagesRequest) => ((req.body.tools as { name: string }[] | undefined) ?? []).map((t) => t.name);
const systemOf = (req: MessagesRequest) =>
  ((req.body.system as { text: string }[] | undefined) ?? []).map((b) => b.text).join('\n');
const userText = (req: MessagesRequest) => JSON.stringify(req.body.messages?.[0]?.content ?? '');

test("improve --loops 2: research, plan (at most 5 tasks), batch, memory; loop 2 reads loop 1's summary", async () => {
  const researchSystems: string[] = [];
  const planRequests: MessagesRequest[] = [];
  const fake = await startFakeAnthropic({
    byTurn: (turn, req) => {
      if (tools(req).includes('submit_plan')) {
        planRequests.push(req);
        const loop = /findings of improvement loop (\d)/.exec(userText(req))?.[1];
        return message([
          toolUse('toolu_plan', 'submit_plan', {
            tasks: [
              {
                id: 'task-001',
                title: `Fix finding of loop ${loop}`,
                description: 'Fix it.',
                role: 'backend',
                depends_on: [],
                estimated_complexity: 'low',
                acceptance_criteria: ['fixed'],
                deliverables: ['src/parse.js'],
              },
            ],
          }),
        ]);
      }
      const system = systemOf(req);
      if (system.includes('Research: what to improve next')) {
        const loop = /loop (\d)\)/.exec(system)?.[1];
        if (turn === 1) {
          researchSystems.push(system);
          return message([
            toolUse('toolu_w', 'write_file', {
              path: 'FINDINGS.md',
              content: `## Validate input in parse (loop ${loop})\n- parse('') throws a clear error\n`,
            }),
          ]);
        }
        return message([toolUse('toolu_f', 'finish', { summary: 'wrote FINDINGS.md', verification: 'read it back' })]);
      }
      return message([
        toolUse('toolu_done', 'finish', { summary: 'fixed the finding', verification: 'ran the tests' }),
      ]);
    },
  });
  try {
    const config = withModel(testConfig(server.env), fake.url);
    const { bare } = makeRepo();
    const worker = await testWorker(server.env, config);
    const id = uniqueBatchId('improve');
    const input: ImproveInput = { repo: bare, loops: 2, date: '2026-12-03' };
    const r = (await worker.runUntil(
      server.env.client.workflow.execute('improvementLoops', { taskQueue: TASK_QUEUE, workflowId: id, args: [input] }),
    )) as ImproveResult;

    assert.equal(r.loops.length, 2, JSON.stringify(r, null, 1).slice(0, 3000));
    for (const [i, loop] of r.loops.entries()) {
      assert.equal(loop.research.status, 'succeeded', loop.research.error);
      assert.equal(loop.batchId, `${id}-loop-${i + 1}-batch`);
      assert.deepEqual(
        loop.tasks.map((t) => [t.taskId, t.status]),
        [['task-001', 'succeeded']],
      );
    }
    // The findings the research agent wrote are what the planner planned from, with at most 5 tasks.
    assert.equal(planRequests.length, 2);
    assert.match(userText(planRequests[0]), /Validate input in parse \(loop 1\)/);
    assert.equal(
      (planRequests[0].body.tools as { input_schema: { properties: { tasks: { maxItems: number } } } }[])[0]
        .input_schema.properties.tasks.maxItems,
      5,
    );

    // Memory: loop 1's summary is on disk, and loop 2's research and planning read it.
    const summary1 = readFileSync(path.join(config.root, r.loops[0].summaryFile!), 'utf8');
    assert.match(
      summary1,
      /^# Loop 1 summary\n\nFindings: Validate input in parse \(loop 1\)\n\nTasks:\n- task-001 Fix finding of loop 1: succeeded \(fixed the finding Checked: ran the tests\)/,
    );
    assert.doesNotMatch(researchSystems[0], /Loop 1 summary/);
    assert.match(researchSystems[1], /The previous loop's summary[\s\S]*# Loop 1 summary/);
    assert.match(userText(planRequests[1]), /Notes from earlier work:[\s\S]*Loop 1 summary/);
    assert.match(r.summary ?? '', /^# Loop 2 summary/);

    // Each loop's plan is a task file on the repository.
    const plan2 = readFileSync(path.join(config.root, r.loops[1].tasksFile!), 'utf8');
    assert.match(plan2, /repo: .*bare/);
    assert.equal(fake.exhausted, undefined);
  } finally {
    await fake.close();
  }
});
