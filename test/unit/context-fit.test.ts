/**
 * Elision with hysteresis keeps the prompt-cache prefix stable: over a long task whose context
 * passes the threshold, the prefix is rewritten a few times instead of on every turn.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type Anthropic from '@anthropic-ai/sdk';
import { elideThrough, estimateTokens, fitContext } from '../../activities/model/request';

const WINDOW = 200_000;
const MAX_TOKENS = 8000;
const RESULT = 'z'.repeat(20_000);

/** The stored conversation before turn `turn`, unelided, as loadConversation rebuilds it. */
function conversation(turn: number): Anthropic.MessageParam[] {
  const m: Anthropic.MessageParam[] = [{ role: 'user', content: [{ type: 'text', text: 'Go.' }] }];
  for (let t = 1; t < turn; t++) {
    m.push({
      role: 'assistant',
      content: [{ type: 'tool_use', id: `t${t}`, name: 'read_file', input: { path: `f${t}` } }],
    });
    m.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: `t${t}`, content: `${t}:${RESULT}` }] });
  }
  return m;
}

/** Runs 40 turns; `fit` decides each request. Returns how often the previous request was not a prefix of the next, and the largest request. */
function night(fit: (messages: Anthropic.MessageParam[], last: { tokens: number; through: number }) => number) {
  let last = { tokens: 0, through: 0 };
  let previous = '';
  let rewrites = 0;
  let largest = 0;
  for (let turn = 1; turn <= 40; turn++) {
    const messages = conversation(turn);
    const through = fit(messages, last);
    const body = JSON.stringify(messages);
    // The previous request minus its closing bracket must open this one for the cache to read it.
    if (previous && !body.startsWith(previous.slice(0, -1))) rewrites++;
    previous = body;
    const tokens = estimateTokens(messages, 'sys');
    largest = Math.max(largest, tokens + MAX_TOKENS);
    last = { tokens, through };
  }
  return { rewrites, largest };
}

test('elision with hysteresis rewrites the prefix a few times over 40 turns; eliding at the threshold every turn rewrites it on every turn past it', (t) => {
  const stable = night(
    (messages, last) =>
      fitContext(messages, 'sys', last.tokens, { contextWindow: WINDOW, maxTokens: MAX_TOKENS }, last.through)
        .elidedThroughTurn,
  );
  // What the loop did before: past 75 %, elide everything older than the last four turns, every turn.
  const everyTurn = night((messages, last) => {
    const turns = messages.filter((m) => m.role === 'assistant').length;
    if (Math.max(last.tokens, estimateTokens(messages, 'sys')) + MAX_TOKENS <= 0.75 * WINDOW) return 0;
    elideThrough(messages, turns - 4);
    return turns - 4;
  });
  t.diagnostic(
    `prefix rewrites in 40 turns: hysteresis ${stable.rewrites}, per-turn ${everyTurn.rewrites}; largest request ${stable.largest} tokens`,
  );
  assert.ok(stable.rewrites <= 3, `hysteresis: ${stable.rewrites} prefix rewrites in 40 turns`);
  assert.ok(everyTurn.rewrites >= 10, `per-turn elision: ${everyTurn.rewrites} prefix rewrites`);
  assert.ok(stable.largest <= 0.75 * WINDOW, `the context stays inside 75 % of the window (largest ${stable.largest})`);
});

test('what an earlier turn elided stays elided: the same prefix, byte for byte', () => {
  const first = conversation(30);
  const a = fitContext(first, 'sys', 0, { contextWindow: WINDOW, maxTokens: MAX_TOKENS });
  assert.ok(a.elidedThroughTurn > 0);
  const next = conversation(31);
  const b = fitContext(
    next,
    'sys',
    estimateTokens(first, 'sys'),
    { contextWindow: WINDOW, maxTokens: MAX_TOKENS },
    a.elidedThroughTurn,
  );
  assert.equal(b.elidedThroughTurn, a.elidedThroughTurn, 'under the threshold again: nothing more is elided');
  assert.ok(JSON.stringify(next).startsWith(JSON.stringify(first).slice(0, -1)));
});
