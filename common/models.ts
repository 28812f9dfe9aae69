/**
 * Model aliases and prices: the one table the schema, the agent loop and the budget read.
 * Prices are USD per million tokens.
 */

export type Complexity = 'low' | 'medium' | 'high';

export const MODEL_ALIASES = {
  haiku: 'claude-haiku-5-5',
  sonnet: 'claude-sonnet-5-5',
  opus: 'claude-opus-5-5',
} as const;

export type ModelAlias = keyof typeof MODEL_ALIASES;

/** Seed 003: easy -> haiku, normal -> sonnet, complex -> opus. */
export const MODEL_FOR_COMPLEXITY: Record<Complexity, ModelAlias> = { low: 'haiku', medium: 'sonnet', high: 'opus' };

export interface ModelPrice {
  input: number;
  output: number;
  cacheWrite: number;
  cacheRead: number;
  /** Context window in tokens. */
  contextWindow: number;
}

export const MODEL_PRICES: Record<string, ModelPrice> = {
  'claude-haiku-4-5': { input: 1, output: 5, cacheWrite: 1.25, cacheRead: 0.1, contextWindow: 200_000 },
  'claude-sonnet-4-5': { input: 3, output: 15, cacheWrite: 3.75, cacheRead: 0.3, contextWindow: 200_000 },
  'claude-opus-4-5': { input: 5, output: 25, cacheWrite: 6.25, cacheRead: 0.5, contextWindow: 200_000 },
  // From Anthropic's pricing and model pages (5-minute cache writes), 2026-11.
  'claude-sonnet-4-6': { input: 3, output: 15, cacheWrite: 3.75, cacheRead: 0.3, contextWindow: 1_000_000 },
  'claude-opus-4-6': { input: 5, output: 25, cacheWrite: 6.25, cacheRead: 0.5, contextWindow: 1_000_000 },
  'claude-opus-5': { input: 5, output: 25, cacheWrite: 6.25, cacheRead: 0.5, contextWindow: 1_000_000 },
  // The current family, from each model's overview page (2026-11). Haiku 5.5's rates are for prompts up to 100K tokens.
  'claude-haiku-5-5': { input: 0.1, output: 0.5, cacheWrite: 0.125, cacheRead: 0.01, contextWindow: 1_000_000 },
  'claude-sonnet-5-5': { input: 2, output: 10, cacheWrite: 2.5, cacheRead: 0.2, contextWindow: 1_000_000 },
  'claude-opus-5-5': { input: 4, output: 20, cacheWrite: 5, cacheRead: 0.2, contextWindow: 1_000_000 },
};

const FULL_MODEL_ID = /^claude-[a-z0-9][a-z0-9.-]*$/;

export function isKnownModel(model: string): boolean {
  return model in MODEL_ALIASES || FULL_MODEL_ID.test(model);
}

/** Resolves an alias or full ID, falling back to the complexity rule, then sonnet. */
export function resolveModel(model: string | undefined, complexity: Complexity | undefined): string {
  if (model) return (MODEL_ALIASES as Record<string, string>)[model] ?? model;
  return MODEL_ALIASES[MODEL_FOR_COMPLEXITY[complexity ?? 'medium']];
}

/**
 * The price row for a model ID, matching dated snapshots (`claude-sonnet-4-5-20250929`,
 * `claude-sonnet-4-5@20250929`) to their row. Undefined when the table does not know the model.
 */
export function priceOf(model: string): ModelPrice | undefined {
  const id = (MODEL_ALIASES as Record<string, string>)[model] ?? model;
  if (MODEL_PRICES[id]) return MODEL_PRICES[id];
  // Only a date suffix names the same model: claude-opus-5-5 is not a snapshot of claude-opus-5.
  const family = Object.keys(MODEL_PRICES).find((k) => id.startsWith(k) && /^[-@]\d{8}$/.test(id.slice(k.length)));
  return family ? MODEL_PRICES[family] : undefined;
}

/** The most expensive row: what an unknown model is charged, so its cost is never taken as zero. */
export function worstCasePrice(): ModelPrice {
  const rows = Object.values(MODEL_PRICES);
  return {
    input: Math.max(...rows.map((r) => r.input)),
    output: Math.max(...rows.map((r) => r.output)),
    cacheWrite: Math.max(...rows.map((r) => r.cacheWrite)),
    cacheRead: Math.max(...rows.map((r) => r.cacheRead)),
    contextWindow: Math.min(...rows.map((r) => r.contextWindow)),
  };
}

export interface UsageTokens {
  input: number;
  output: number;
  cacheWrite: number;
  cacheRead: number;
}

/**
 * USD for one response's usage. `input` is the uncached input only (the API reports cache
 * writes and reads separately), so the four parts add up without double counting.
 * Rounded to a billionth of a dollar so float noise does not leak into sums.
 */
export function costOf(usage: UsageTokens, price: ModelPrice): number {
  // Prices are per million tokens, so this sum is in millionths of a dollar.
  const micro = usage.input * price.input + usage.output * price.output + usage.cacheWrite * price.cacheWrite + usage.cacheRead * price.cacheRead;
  return Math.round(micro * 1000) / 1e9;
}
