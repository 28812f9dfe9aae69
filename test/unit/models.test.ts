/** The model table as data: the shipped file, the user's file laid over it, tiers, end of life, did-you-mean. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  batchPrice,
  batchPriceFactor,
  costOf,
  daysToEndOfLife,
  modelEntry,
  nearestModels,
  priceOf,
  resolveModel,
  shippedModelTable,
  useModelTable,
} from '../../common/models';
import { installModelFile, readModelFile } from '../../common/models-file';
import { worstCaseCostUsd } from '../../workflows/budget/arithmetic';

const tmpFile = (body: unknown) => {
  const f = path.join(mkdtempSync(path.join(os.tmpdir(), 'nightshift-models-')), 'models.json');
  writeFileSync(f, typeof body === 'string' ? body : JSON.stringify(body));
  return f;
};

test('the shipped table: aliases name rows it prices, every row has a window and a tool-use rule', () => {
  const t = shippedModelTable();
  for (const [alias, id] of Object.entries(t.aliases)) assert.ok(t.models[id], `${alias} -> ${id} has a row`);
  for (const [id, m] of Object.entries(t.models)) {
    assert.ok(m.contextWindow > 0 && m.prices.output > 0, id);
    assert.ok(
      m.prices.cacheWrite1h >= m.prices.cacheWrite5m,
      `${id}: the 1-hour write costs at least the 5-minute one`,
    );
    assert.ok(m.source, `${id} cites its source`);
  }
  assert.equal(resolveModel(undefined, undefined), 'claude-sonnet-5-5');
  assert.equal(resolveModel(undefined, 'high'), 'claude-opus-5-5');
  assert.equal(modelEntry('opus')?.forcedToolUse, 'rejected');
  assert.equal(modelEntry('claude-haiku-4-5-20251001')?.forcedToolUse, 'accepted', 'a dated snapshot reads its row');
});

test('a tiered model pays the higher rates on every token of a request whose prompt passes the tier', () => {
  const haiku = priceOf('claude-haiku-5-5')!;
  // 100,000 prompt tokens is not above the tier: 90k×0.10 + 10k×0.01 + 1k×0.50 = 9,600 µ$.
  assert.equal(costOf({ input: 90_000, cacheRead: 10_000, cacheWrite: 0, output: 1000 }, haiku), 0.0096);
  // One more token and all of it is at the higher tier: 90,001×0.50 + 10k×0.05 + 1k×2.50 = 48,000.5 µ$.
  assert.equal(costOf({ input: 90_001, cacheRead: 10_000, cacheWrite: 0, output: 1000 }, haiku), 0.0480005);
});

test('1-hour cache writes are charged at their own rate', () => {
  const sonnet = priceOf('sonnet')!;
  // 1000 written, 400 of them for an hour: 600×2.50 + 400×4 = 3,100 µ$.
  assert.equal(costOf({ input: 0, output: 0, cacheRead: 0, cacheWrite: 1000, cacheWrite1h: 400 }, sonnet), 0.0031);
});

test('end of life in days, and did-you-mean for a typo', () => {
  assert.equal(daysToEndOfLife('claude-sonnet-4-5-20250929', '2026-11-29'), 1);
  assert.equal(daysToEndOfLife('claude-sonnet-4-5', '2026-12-05'), -5);
  assert.equal(daysToEndOfLife('sonnet', '2026-11-29'), undefined, 'the current family has no announced date');
  assert.deepEqual(nearestModels('claude-sonet-5-5'), ['claude-sonnet-5-5', 'claude-sonnet-4-5']);
  assert.deepEqual(nearestModels('claude-opus-55'), ['claude-opus-5', 'claude-opus-5-5']);
  assert.deepEqual(nearestModels('gpt-4'), []);
});

test("the user's file is laid over the shipped one: a price, an alias, a new model", () => {
  const f = tmpFile({
    aliases: { sonnet: 'claude-sonnet-9' },
    models: {
      'claude-sonnet-5-5': { prices: { input: 2, output: 10, cacheWrite5m: 2.5, cacheWrite1h: 4, cacheRead: 0.1 } },
      'claude-sonnet-9': {
        prices: { input: 1, output: 2, cacheWrite5m: 1.25, cacheWrite1h: 2, cacheRead: 0.1 },
        contextWindow: 2_000_000,
        forcedToolUse: 'rejected',
        thinking: 'adaptive',
        effort: true,
      },
    },
  });
  try {
    installModelFile(f);
    assert.equal(resolveModel(undefined, 'medium'), 'claude-sonnet-9');
    assert.equal(priceOf('sonnet')?.contextWindow, 2_000_000);
    assert.equal(priceOf('claude-sonnet-5-5')?.cacheRead, 0.1);
    assert.equal(
      modelEntry('claude-sonnet-5-5')?.forcedToolUse,
      'rejected',
      'fields the file leaves out keep their shipped value',
    );
    assert.equal(resolveModel('haiku', undefined), 'claude-haiku-5-5');
  } finally {
    useModelTable(undefined);
  }
  assert.equal(resolveModel('sonnet', undefined), 'claude-sonnet-5-5');
});

test("a broken user file fails with the file's name and the field at fault", () => {
  assert.throws(() => readModelFile(tmpFile('{ nope')), /NIGHTSHIFT_MODELS_FILE .*models\.json: /);
  assert.throws(
    () => readModelFile(tmpFile({ aliases: { sonnet: 'gpt-9' } })),
    /aliases\.sonnet: must be a full model ID/,
  );
  assert.throws(
    () =>
      readModelFile(
        tmpFile({
          models: {
            'claude-new-1': { prices: { input: 1, output: 2, cacheWrite5m: 1, cacheWrite1h: 2, cacheRead: 0.1 } },
          },
        }),
      ),
    /models\.claude-new-1: .*contextWindow.*needs every field/,
  );
  assert.throws(
    () =>
      readModelFile(
        tmpFile({
          models: {
            'claude-sonnet-5-5': { prices: { input: -1, output: 2, cacheWrite5m: 1, cacheWrite1h: 2, cacheRead: 0.1 } },
          },
        }),
      ),
    /prices\.input/,
  );
});

test("a call's worst case takes the tier its prompt falls in, so a long haiku 5.5 prompt is reserved at the higher rates", () => {
  const haiku = priceOf('claude-haiku-5-5')!;
  // 50k prompt tokens at the dearest base input rate (5-minute write, $0.125) + 1k output at $0.50 = 6,750 µ$.
  assert.equal(worstCaseCostUsd(50_000, 1000, haiku), 0.00675);
  // 150k is past the 100K tier: $0.625 and $2.50: 93,750 + 2,500 = 96,250 µ$.
  assert.equal(worstCaseCostUsd(150_000, 1000, haiku), 0.09625);
  // A model without tiers is reserved as before: sonnet 5.5, 150k × $2.50 + 1k × $10.
  assert.equal(worstCaseCostUsd(150_000, 1000, priceOf('sonnet')!), 0.385);
});

test('a call written for an hour is reserved at the 1-hour write rate; a thinking budget beyond max_tokens at the output rate', () => {
  const sonnet = priceOf('claude-sonnet-5-5')!;
  // 10,000 input at $2.50 (5m write) or $4 (1h write), 1,000 output at $10.
  assert.equal(worstCaseCostUsd(10_000, 1_000, sonnet), 0.035);
  assert.equal(worstCaseCostUsd(10_000, 1_000, sonnet, { cacheTtl1h: true }), 0.05);
  assert.equal(worstCaseCostUsd(10_000, 1_000, sonnet, { cacheTtl1h: true, thinkingTokens: 4_000 }), 0.09);
});

test('the Batches API pays the batch share of every rate, tiers included, and the share comes from the data file', () => {
  const haiku = priceOf('claude-haiku-5-5')!;
  const batched = batchPrice(haiku);
  assert.equal(batchPriceFactor(), 0.5);
  assert.equal(batched.input, 0.05);
  assert.equal(batched.cacheWrite1h, 0.1);
  assert.equal(batched.tiers?.[0].abovePromptTokens, 100_000);
  assert.equal(batched.tiers?.[0].output, 1.25);
  const usage = { input: 120_000, output: 3_000, cacheWrite: 0, cacheRead: 0 };
  assert.equal(costOf(usage, batched), costOf(usage, haiku) / 2);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'models-'));
  const file = path.join(dir, 'models.json');
  writeFileSync(file, JSON.stringify({ batch: { priceFactor: 0.4 } }));
  try {
    installModelFile(file);
    assert.equal(batchPriceFactor(), 0.4);
  } finally {
    useModelTable(undefined);
  }
  writeFileSync(file, JSON.stringify({ batch: { priceFactor: 2 } }));
  assert.throws(() => readModelFile(file), /batch\.priceFactor/);
});
