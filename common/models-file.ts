/**
 * The user's model file (NIGHTSHIFT_MODELS_FILE): the shipped table's shape, any subset,
 * laid over the shipped table so a price, alias or end-of-life change needs no release.
 * Read by the worker and the CLI at start; the workflow sandbox keeps the shipped table.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { shippedModelTable, useModelTable, type ModelEntry, type ModelTable } from './models';

const rate = z.number().min(0);
const Rates = z.strictObject({ input: rate, output: rate, cacheWrite5m: rate, cacheWrite1h: rate, cacheRead: rate });
const Entry = z.strictObject({
  name: z.string().optional(),
  prices: Rates,
  tiers: z.array(Rates.extend({ abovePromptTokens: z.number().int().positive() })).optional(),
  contextWindow: z.number().int().positive(),
  minCacheableTokens: z.number().int().positive().optional(),
  maxOutput: z.number().int().positive().nullable().optional(),
  endOfLife: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date, YYYY-MM-DD')
    .nullable()
    .optional(),
  forcedToolUse: z.enum(['accepted', 'rejected']),
  thinking: z.enum(['always', 'adaptive', 'extended']),
  effort: z.boolean(),
  source: z.string().optional(),
});
const UserFile = z.strictObject({
  about: z.union([z.string(), z.array(z.string())]).optional(),
  batch: z.strictObject({ priceFactor: z.number().gt(0).max(1), source: z.string().optional() }).optional(),
  aliases: z
    .record(z.string(), z.string().regex(/^claude-[a-z0-9][a-z0-9.-]*$/, 'must be a full model ID (claude-...)'))
    .optional(),
  // A known model may change only some fields; a new one must give them all (checked below).
  models: z.record(z.string(), Entry.partial()).optional(),
});

/** The shipped table with `file` laid over it. Throws with the file's name and the field at fault. */
export function readModelFile(file: string): ModelTable {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`NIGHTSHIFT_MODELS_FILE ${file}: ${(err as Error).message}`);
  }
  const parsed = UserFile.safeParse(raw);
  if (!parsed.success)
    throw new Error(
      `NIGHTSHIFT_MODELS_FILE ${file}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`,
    );
  const base = shippedModelTable();
  const models: Record<string, ModelEntry> = { ...base.models };
  for (const [id, partial] of Object.entries(parsed.data.models ?? {})) {
    const merged = { ...base.models[id], ...partial, ...(partial.prices ? { prices: partial.prices } : {}) };
    const full = Entry.safeParse(merged);
    if (!full.success)
      throw new Error(
        `NIGHTSHIFT_MODELS_FILE ${file}: models.${id}: ${full.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}${base.models[id] ? '' : ' (a model the shipped table does not know needs every field)'}`,
      );
    models[id] = full.data;
  }
  const aliases = { ...base.aliases, ...(parsed.data.aliases ?? {}) };
  return { batch: { ...base.batch, ...(parsed.data.batch ?? {}) }, aliases, models };
}

/** Installs the user's file when one is set; returns the table in force. */
export function installModelFile(file: string | undefined): ModelTable {
  const t = file ? readModelFile(file) : undefined;
  useModelTable(t);
  return t ?? shippedModelTable();
}
