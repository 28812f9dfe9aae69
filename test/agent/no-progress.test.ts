/**
 * The no-progress guard in the whole loop, on a real dev server with a real sandbox: a
 * scripted agent that runs the same failing command again and again, and one that flips an
 * edit back and forth, is nudged once (the note reaches the model), then stopped as
 * `stuck` with its work kept and delivered as a draft PR that says why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { devServerForFile } from '../helpers/temporal';
import { message, startFakeAnthropic, toolUse } from '../fakes/anthropic-server';
import type { MessagesRequest } from '../../demo/messages-server';
import { startFakeGitHub } from '../fakes/github-server';
import { renderReportMarkdown } from '../../activities/night/report';
import { agentInput, agentSpec, runAgentTask } from './helpers';
import { deliveryConfig, deliveryWorker, GITHUB_REPO, prSettings, remote } from '../delivery/helpers';

const server = devServerForFile();

const NUDGE = /do not seem to be making progress/;
const mentions = (req: MessagesRequest, re: RegExp) =>
  re.test(JSON.stringify(req.body.messages?.[req.body.messages.length - 1] ?? ''));

test('the same failing command six times: nudged after the third, stuck after the sixth, work kept as a draft', async () => {
  const bare = remote();
  const gh = await startFakeGitHub({ repos: { [GITHUB_REPO]: { bare } } });
  const fake = await startFakeAnthropic({
    byTurn: (turn) =>
      turn === 1
        ? message([toolUse('tu_w', 'write_file', { path: 'src/app.js', content: 'module.exports = 1;\n' })])
        : message([toolUse(`tu_${turn}`, 'bash', { command: 'cat config/settings.json' })]),
  });
  try {
    const config = deliveryConfig(server.env, fake.url, gh.url);
    const worker = await deliveryWorker(server.env, config);
    const { result } = await runAgentTask(
      server.env,
      worker,
      agentInput(agentSpec({ repo: bare, createPr: true, pullRequest: prSettings() })),
    );

    assert.equal(result.status, 'stuck', result.error);
    assert.equal(result.turns, 7, 'one write, then the command six times');
    assert.match(
      result.error!,
      /still no progress after a nudge[\s\S]*`bash: cat config\/settings\.json` ran 3 times with the same result/,
    );
    // Turn 4's request (after the third repeat) carries the nudge; none before it does.
    assert.deepEqual(
      fake.requests.map((r) => mentions(r, NUDGE)),
      [false, false, false, false, true, false, false],
    );
    assert.ok(result.notes?.some((n) => /the agent was nudged/.test(n)));
    assert.equal(
      readFileSync(path.join(result.workDir!, 'src/app.js'), 'utf8'),
      'module.exports = 1;\n',
      'the work is kept',
    );
    const [pr] = gh.pulls(GITHUB_REPO);
    assert.equal(pr.draft, true);
    assert.match(pr.title, /^\[stuck\] /);
    assert.match(pr.body, /\*\*Status: stuck\*\* — stopped after turn 7/);
    const report = renderReportMarkdown({
      batchId: 'b',
      date: '2026-11-21',
      state: 'completed',
      startedAt: 0,
      tasks: [{ ...result, title: 'Add a greeting module', workflowId: 'w' }],
    });
    assert.match(
      report,
      /## Needs a human\n\n- \*\*agent-1\*\* \(Add a greeting module\): stopped: no progress — stopped after turn 7/,
    );
  } finally {
    await fake.close();
    await gh.close();
  }
});

test('an edit flipped back and forth: nudged, then stuck, the last state kept', async () => {
  const bare = remote();
  const fake = await startFakeAnthropic({
    byTurn: (turn) =>
      message([toolUse(`tu_${turn}`, 'write_file', { path: 'flag.txt', content: turn % 2 ? 'on\n' : 'off\n' })]),
  });
  try {
    const config = deliveryConfig(server.env, fake.url, 'http://127.0.0.1:9');
    const worker = await deliveryWorker(server.env, config);
    const { result } = await runAgentTask(
      server.env,
      worker,
      agentInput(agentSpec({ repo: bare, noProgress: { idleTurns: 50 } })),
    );
    assert.equal(result.status, 'stuck', result.error);
    // on, off, on (back once), off (back twice: nudge), on (once since), off (twice: stuck).
    assert.equal(result.turns, 6);
    assert.match(result.error!, /edits returned the workspace to an earlier state 2 times/);
    assert.ok(fake.requests.some((r) => mentions(r, NUDGE)));
    assert.equal(readFileSync(path.join(result.workDir!, 'flag.txt'), 'utf8'), 'off\n');
  } finally {
    await fake.close();
  }
});
