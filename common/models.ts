/**
 * Model aliases, prices, limits and capabilities: the one table the schema, the agent loop,
 * the budget and `nightshift estimate` read. The figures live in common/models.json (with
 * their sources); a user file named by NIGHTSHIFT_MODELS_FILE is laid over it by
 * common/models-file.ts. Prices are USD per million tokens.
 *
 * Pure and synchronous, so workflow code can import it: the workflow sandbox sees the
 * shipped table only (it cannot read files), the worker's activities and the CLI see the
 * table with the user's file laid over it.
 */
import SHIPPED from './models.json';
import { fromNanoUsd } from './money';
import { nearest } from './suggest';

export type Complexity = 'low' | 'medium' | 'high';

/** Complexity to model: easy -> haiku, normal -> sonnet, complex -> opus. */
export const MODEL_FOR_COMPLEXITY: Record<Complexity, string> = { low: 'haiku', medium: 'sonnet', high: 'opus' };

/** The API's effort levels (`output_config.effort`), for models whose row says `effort: true`. */
export const EFFORTS = ['low', 'medium', 'high', 'xhigh', 'max'] as const;
export type Effort = (typeof EFFORTS)[number];

/** How hard a task's model thinks when the task does not say: as hard as the task is. */
export const EFFORT_FOR_COMPLEXITY: Record<Complexity, Effort> = { low: 'low', medium: 'medium', high: 'high' };

export interface Rates {
  input: number;
  output: number;
  /** A 5-minute cache write. */
  cacheWrite5m: number;
  cacheWrite1h: number;
  cacheRead: number;
}

/** Higher rates for a whole request whose prompt (input + cache reads + cache writes) passes a size. */
export interface PriceTier extends Rates {
  abovePromptTokens: number;
}

/** `always`: thinking cannot be switched off; `adaptive`: the model decides; `extended`: a budget the caller sets. */
export type ThinkingMode = 'always' | 'adaptive' | 'extended';

export interface ModelEntry {
  name?: string;
  prices: Rates;
  tiers?: PriceTier[];
  contextWindow: number;
  /** The shortest prefix a cache breakpoint caches, in tokens; absent where the docs found do not say. */
  minCacheableTokens?: number;
  /** Null where the docs found do not say. */
  maxOutput?: number | null;
  /** YYYY-MM-DD. */
  endOfLife?: string | null;
  /** `rejected`: `tool_choice: {type: 'tool'}` is a 400; ask with `any` and check the answer. */
  forcedToolUse: 'accepted' | 'rejected';
  thinking: ThinkingMode;
  /** Accepts `output_config.effort`. */
  effort: boolean;
  source?: string;
}

/** The Message Batches API's terms, the same for every model. */
export interface BatchTerms {
  /** What a batched request pays as a share of the Messages API's rates (every token kind). */
  priceFactor: number;
  source?: string;
}

export interface ModelTable {
  batch: BatchTerms;
  aliases: Record<string, string>;
  models: Record<string, ModelEntry>;
}

/** What the budget and the cost arithmetic read; `cacheWrite` is the 5-minute write. */
export interface ModelPrice {
  input: number;
  output: number;
  cacheWrite: number;
  cacheWrite1h: number;
  cacheRead: number;
  /** Context window in tokens. */
  contextWindow: number;
  tiers?: PriceTier[];
}

const shipped: ModelTable = {
  batch: SHIPPED.batch,
  aliases: SHIPPED.aliases,
  models: SHIPPED.models as Record<string, ModelEntry>,
};
let table: ModelTable = shipped;
let prices: Record<string, ModelPrice> = pricesOf(shipped);

function pricesOf(t: ModelTable): Record<string, ModelPrice> {
  return Object.fromEntries(
    Object.entries(t.models).map(([id, m]) => [
      id,
      {
        input: m.prices.input,
        output: m.prices.output,
        cacheWrite: m.prices.cacheWrite5m,
        cacheWrite1h: m.prices.cacheWrite1h,
        cacheRead: m.prices.cacheRead,
        contextWindow: m.contextWindow,
        ...(m.tiers?.length ? { tiers: m.tiers } : {}),
      },
    ]),
  );
}

/** The table in force (the shipped one, or it with the user's file laid over). */
export function modelTable(): ModelTable {
  return table;
}

export function shippedModelTable(): ModelTable {
  return shipped;
}

/** Installs a table (common/models-file.ts builds it); undefined restores the shipped one. */
export function useModelTable(t: ModelTable | undefined): void {
  table = t ?? shipped;
  prices = pricesOf(table);
  MODEL_PRICES = prices;
}

/** Price rows by model ID, from the table in force (rebound by useModelTable). */
export let MODEL_PRICES: Record<string, ModelPrice> = prices;

export const aliasNames = (): string[] => Object.keys(table.aliases);

const FULL_MODEL_ID = /^claude-[a-z0-9][a-z0-9.-]*$/;

export function isKnownModel(model: string): boolean {
  return model in table.aliases || FULL_MODEL_ID.test(model);
}

/** Resolves an alias or full ID, falling back to the complexity rule, then sonnet. */
export function resolveModel(model: string | undefined, complexity: Complexity | undefined): string {
  if (model) return table.aliases[model] ?? model;
  const alias = MODEL_FOR_COMPLEXITY[complexity ?? 'medium'];
  return table.aliases[alias] ?? alias;
}

/**
 * The table's ID for a model, matching dated snapshots (`claude-sonnet-4-5-20250929`,
 * `claude-sonnet-4-5@20250929`) to their row. Undefined when the table does not know it.
 */
export function modelIdOf(model: string): string | undefined {
  const id = table.aliases[model] ?? model;
  if (table.models[id]) return id;
  // Only a date suffix names the same model: claude-opus-5-5 is not a snapshot of claude-opus-5.
  return Object.keys(table.models).find((k) => id.startsWith(k) && /^[-@]\d{8}$/.test(id.slice(k.length)));
}

export function modelEntry(model: string): ModelEntry | undefined {
  const id = modelIdOf(model);
  return id ? table.models[id] : undefined;
}

/** The price row for a model ID or alias. Undefined when the table does not know the model. */
export function priceOf(model: string): ModelPrice | undefined {
  const id = modelIdOf(model);
  return id ? prices[id] : undefined;
}

/** The most expensive row: what an unknown model is charged, so its cost is never taken as zero. */
export function worstCasePrice(): ModelPrice {
  const rows = Object.values(prices);
  const rates = rows.flatMap((r) => [r, ...(r.tiers ?? []).map((t) => ({ ...t, cacheWrite: t.cacheWrite5m }))]);
  return {
    input: Math.max(...rates.map((r) => r.input)),
    output: Math.max(...rates.map((r) => r.output)),
    cacheWrite: Math.max(...rates.map((r) => r.cacheWrite)),
    cacheWrite1h: Math.max(...rates.map((r) => r.cacheWrite1h)),
    cacheRead: Math.max(...rates.map((r) => r.cacheRead)),
    contextWindow: Math.min(...rows.map((r) => r.contextWindow)),
  };
}

/** The Message Batches API's share of the Messages API's rates (common/models.json `batch`). */
export function batchPriceFactor(): number {
  return table.batch.priceFactor;
}

/** A price row as the Message Batches API charges it: every rate, tiers included, times the batch factor. */
export function batchPrice(price: ModelPrice, factor: number = batchPriceFactor()): ModelPrice {
  const scale = <T extends Rates | Omit<ModelPrice, 'contextWindow' | 'tiers'>>(r: T): T =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, k === 'abovePromptTokens' ? v : v * factor])) as T;
  const { contextWindow, tiers, ...rates } = price;
  return { ...scale(rates), contextWindow, ...(tiers ? { tiers: tiers.map((t) => scale(t)) } : {}) };
}

/** A cache entry lives five minutes after its last read, unless written with the 1-hour TTL. */
export const CACHE_TTL_5M_MS = 5 * 60_000;

export interface UsageTokens {
  input: number;
  output: number;
  /** Cache writes; those at the 1-hour TTL are also counted in `cacheWrite1h`. */
  cacheWrite: number;
  cacheRead: number;
  /** The part of `cacheWrite` written with the 1-hour TTL. @default 0 */
  cacheWrite1h?: number;
}

/** The rates one request pays: a tier's when its prompt passes the tier's size. */
export function ratesFor(price: ModelPrice, promptTokens: number): Omit<ModelPrice, 'contextWindow' | 'tiers'> {
  const tier = (price.tiers ?? [])
    .filter((t) => promptTokens > t.abovePromptTokens)
    .sort((a, b) => b.abovePromptTokens - a.abovePromptTokens)[0];
  return tier
    ? {
        input: tier.input,
        output: tier.output,
        cacheWrite: tier.cacheWrite5m,
        cacheWrite1h: tier.cacheWrite1h,
        cacheRead: tier.cacheRead,
      }
    : price;
}

/**
 * USD for one response's usage. `input` is the uncached input only (the API reports cache
 * writes and reads separately), so the parts add up without double counting.
 * Rounded to a billionth of a dollar so float noise does not leak into sums.
 */
export function costOf(usage: UsageTokens, price: ModelPrice): number {
  const r = ratesFor(price, usage.input + usage.cacheRead + usage.cacheWrite);
  const long = Math.min(usage.cacheWrite1h ?? 0, usage.cacheWrite);
  // Prices are per million tokens, so this sum is in millionths of a dollar.
  const micro =
    usage.input * r.input +
    usage.output * r.output +
    (usage.cacheWrite - long) * r.cacheWrite +
    long * r.cacheWrite1h +
    usage.cacheRead * r.cacheRead;
  return fromNanoUsd(Math.round(micro * 1000));
}

/** Days from `today` (YYYY-MM-DD) to a model's end of life; negative once past; undefined without a date. */
export function daysToEndOfLife(model: string, today: string): number | undefined {
  const eol = modelEntry(model)?.endOfLife;
  if (!eol) return undefined;
  return Math.round((Date.parse(`${eol}T00:00:00Z`) - Date.parse(`${today}T00:00:00Z`)) / 86_400_000);
}

/** Known IDs and aliases (or the `among` names) nearest to `model` by edit distance, for a did-you-mean. */
export function nearestModels(model: string, max = 2, among?: readonly string[]): string[] {
  const names = among ?? [...Object.keys(table.aliases), ...Object.keys(table.models)];
  // Model IDs are long and differ by a digit or two, so two edits are always worth a hint.
  return nearest(model, names, { max, floor: 2 });
}
