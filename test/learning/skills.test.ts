/**
 * on_completion.update_skill on a real dev server: after the agent loop succeeds, a model
 * call (scripted at the wire) extracts the pattern; high confidence lands in
 * skills/learned/, low in skills/pending/; the next night's task that requires the skill
 * gets it in its prompt, along with the lessons from feedback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { approveSkill, listSkills, rejectSkill } from '../../activities/learning/skills';
import { importFeedback } from '../../activities/learning/store';
import { fileStoreFor } from '../../common/store';
import type { MessagesRequest } from '../../demo/messages-server';
import { devServerForFile, testConfig, testWorker } from '../helpers/temporal';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import { agentInput, agentSpec, runAgentTask, withModel } from '../agent/helpers';

const server = devServerForFile();

const hasTool = (req: MessagesRequest, name: string) =>
  ((req.body.tools as { name: string }[] | undefined) ?? []).some((t) => t.name === name);
const firstUserText = (req: MessagesRequest) => JSON.stringify(req.body.messages?.[0]?.content ?? '');
const systemOf = (req: MessagesRequest) =>
  ((req.body.system as { text: string }[] | undefined) ?? []).map((b) => b.text).join('\n');

test('skills land in learned/ or pending/ by confidence, and appear in the next prompt with the lessons', async () => {
  const fake = await startFakeAnthropic({
    byTurn: (turn, req) => {
      if (hasTool(req, 'record_skill')) {
        const confident = firstUserText(req).includes('greeting-module');
        return message([
          toolUse('toolu_skill', 'record_skill', {
            title: confident ? 'Small node modules with a smoke check' : 'A one-off fix',
            when_to_use: confident ? 'Adding a tiny module' : 'Rarely',
            pattern: confident ? '1. Write the module.\n2. Run it with node to check it prints.' : 'Patch the thing.',
            confidence: confident ? 0.9 : 0.3,
          }),
        ]);
      }
      if (systemOf(req).includes('Use the greeting-module skill'))
        return message([toolUse('toolu_f2', 'finish', { summary: 'used the skill', verification: 'ran it' })]);
      return turn === 1
        ? message([
            text('Writing it.'),
            toolUse('toolu_w', 'write_file', { path: 'greet.js', content: 'console.log("hi")\n' }),
          ])
        : message([
            toolUse('toolu_f', 'finish', { summary: 'Added greet.js', verification: 'node greet.js prints hi' }),
          ]);
    },
  });
  try {
    const config = withModel(testConfig(server.env), fake.url);
    const root = config.root;
    // A worker runs once (runUntil shuts it down): one per task.
    const run = async (o: Parameters<typeof agentSpec>[0]) =>
      runAgentTask(server.env, await testWorker(server.env, config), agentInput(agentSpec(o)));

    // Night 1: two tasks that succeed and learn.
    const a = await run({ id: 'greet', updateSkill: 'greeting-module' });
    assert.equal(a.result.status, 'succeeded', a.result.error);
    const b = await run({ id: 'fix', title: 'Fix a typo', updateSkill: 'one-off' });
    assert.equal(b.result.status, 'succeeded', b.result.error);

    const learned = readFileSync(path.join(root, 'skills/learned/greeting-module.md'), 'utf8');
    assert.match(
      learned,
      /^---\nname: greeting-module\nconfidence: 0\.9\nsource: agent-[^\n]+\/greet(@[0-9a-f-]+)?\ntask: greet\ndate: 2026-11-21\n---\n# Small node modules with a smoke check/,
    );
    assert.match(learned, /2\. Run it with node to check it prints\./);
    assert.ok(existsSync(path.join(root, 'skills/pending/one-off.md')));
    assert.ok(!existsSync(path.join(root, 'skills/learned/one-off.md')));
    assert.deepEqual(
      (await listSkills({ root, store: fileStoreFor({ root }) })).map((s) => [s.name, s.status, s.confidence]),
      [
        ['greeting-module', 'learned', 0.9],
        ['one-off', 'pending', 0.3],
      ],
    );

    // The extraction read what the agent did, and its cost is in the task's total.
    const extraction = fake.requests.find(
      (r) => hasTool(r, 'record_skill') && firstUserText(r).includes('greeting-module'),
    )!;
    // Sonnet 5.5 rejects forced tool use, so the extraction asks with auto.
    assert.deepEqual(extraction.body.tool_choice, { type: 'auto' });
    assert.match(firstUserText(extraction), /write_file greet\.js/);
    assert.match(firstUserText(extraction), /Added greet\.js/);
    // Two agent turns and one extraction, each 100 in / 20 out on sonnet 5.5 ($0.0004).
    assert.equal(a.result.costUsd, 0.0012);

    // Feedback on night 1 adds a lesson.
    mkdirSync(path.join(root, 'feedback'));
    writeFileSync(
      path.join(root, 'feedback/2026-11-21.md'),
      '# Feedback - 2026-11-21\n\n## greet: Greeting\nRating: 4/5\n\n✅ Small and checked\n\nAction: Print the command you ran to check your work\n',
    );
    await importFeedback({ root, store: fileStoreFor({ root }) }, 'feedback/2026-11-21.md');

    // Night 2: a task that requires the learned skill gets it, and the lesson, in its system prompt.
    const before = fake.requests.length;
    const c = await run({ id: 'greet-2', description: 'Use the greeting-module skill.', skills: ['greeting-module'] });
    assert.equal(c.result.status, 'succeeded', c.result.error);
    const system = systemOf(fake.requests[before]);
    assert.match(
      system,
      /## Skills\n### greeting-module\n`{3,}\n# Small node modules with a smoke check[\s\S]*Run it with node/,
    );
    assert.doesNotMatch(system, /confidence: 0\.9/, 'front matter stays out of the prompt');
    assert.match(
      system,
      /## Lessons from earlier nights\n`{3,}\n- Print the command you ran to check your work \(feedback 2026-11-21, greet rated 4\/5\)/,
    );
    assert.equal(fake.exhausted, undefined);

    // A person reviews the pending one.
    await approveSkill({ root, store: fileStoreFor({ root }) }, 'one-off');
    assert.ok(existsSync(path.join(root, 'skills/learned/one-off.md')));
    assert.ok(!existsSync(path.join(root, 'skills/pending/one-off.md')));
    await assert.rejects(rejectSkill({ root, store: fileStoreFor({ root }) }, 'one-off'), /no pending skill "one-off"/);
  } finally {
    await fake.close();
  }
});

test('with model_api: batch the skill is learned through the Message Batches API at half price; a batch without a skill falls back to the Messages API', async () => {
  const skill = (confidence: number) =>
    message([
      toolUse('toolu_skill', 'record_skill', {
        title: 'Greeting modules',
        when_to_use: 'Adding a tiny module',
        pattern: '1. Write it.\n2. Run it.',
        confidence,
      }),
    ]);
  let skillAnswers = 0;
  const fake = await startFakeAnthropic({
    byTurn: (turn, req) => {
      if (hasTool(req, 'record_skill')) {
        skillAnswers++;
        // The second task's batched answer records no pattern: it is billed, and the task asks again.
        if (firstUserText(req).includes('batch-empty') && req.headers['x-fake-batch'])
          return message([text('I would rather not.')]);
        return skill(0.9);
      }
      return turn === 1
        ? message([toolUse('toolu_w', 'write_file', { path: 'greet.js', content: 'console.log("hi")\n' })])
        : message([toolUse('toolu_f', 'finish', { summary: 'Added greet.js', verification: 'node greet.js' })]);
    },
    batches: { processAfterMs: 1_000 },
  });
  try {
    const config = withModel(testConfig(server.env), fake.url);
    const run = async (o: Parameters<typeof agentSpec>[0]) =>
      runAgentTask(
        server.env,
        await testWorker(server.env, config),
        agentInput(agentSpec({ ...o, modelApi: 'batch' })),
      );

    const a = await run({ id: 'batched', updateSkill: 'batch-learned' });
    assert.equal(a.result.status, 'succeeded', a.result.error);
    assert.match(
      readFileSync(path.join(config.root, 'skills/learned/batch-learned.md'), 'utf8'),
      /^---\nname: batch-learned\nconfidence: 0\.9\n[\s\S]*# Greeting modules/,
    );
    const [batch] = fake.batches();
    assert.equal(batch.requests.length, 1);
    assert.match(batch.requests[0].custom_id, /^ns-[0-9a-f]{40}-0$/);
    assert.deepEqual(batch.requests[0].params.tool_choice, { type: 'auto' }, 'sonnet 5.5 rejects forced tool use');
    assert.equal(batch.resultReads, 1);
    assert.equal(
      fake.requests.filter((r) => hasTool(r, 'record_skill') && !r.headers['x-fake-batch']).length,
      0,
      'no Messages API call for the skill',
    );
    // Two agent turns at $0.0004 each (100 in / 20 out on sonnet 5.5) and the skill at half of that.
    assert.equal(a.result.costUsd, 0.001);
    assert.equal(
      Math.round(fake.billing().costUsd * 1e9),
      Math.round(a.result.costUsd * 1e9),
      'booked what was billed',
    );

    const b = await run({ id: 'fallback', updateSkill: 'batch-empty' });
    assert.equal(b.result.status, 'succeeded', b.result.error);
    assert.match(
      (b.result.notes ?? []).join('\n'),
      /skill learning, Message Batches API: the batched answer recorded no skill pattern .*; asked the Messages API instead/,
    );
    assert.ok(existsSync(path.join(config.root, 'skills/learned/batch-empty.md')), 'learned through the Messages API');
    assert.equal(fake.batches().length, 2);
    // Two turns, the billed batch answer without a skill ($0.0002) and the Messages API's ($0.0004).
    assert.equal(b.result.costUsd, 0.0014);
    assert.equal(skillAnswers, 3);
  } finally {
    await fake.close();
  }
});
