/**
 * How dollar amounts are rounded. Costs are sums of many small float products, so each
 * figure is rounded before it is stored, compared or shown; otherwise float noise makes
 * equal budgets unequal and puts 0.30000000000000004 in a report.
 *
 * Two precisions, on purpose:
 * - a nano-dollar (1e-9) for what is accumulated and compared: a cheap model's call costs
 *   a few micro-dollars, so a coarser step would drift over a night of thousands of calls;
 * - a micro-dollar (1e-6) for what is shown and summed into statuses and results: finer
 *   digits mean nothing to a reader and the figures stay short.
 *
 * Workflows import this module, so it stays pure arithmetic: no I/O, clock or Node built-ins.
 */

/** `usd` in whole nano-dollars: integers compare and add exactly. */
export function toNanoUsd(usd: number): number {
  return Math.round(usd * 1e9);
}

/** Whole nano-dollars back to dollars. */
export function fromNanoUsd(nano: number): number {
  return nano / 1e9;
}

/** `usd` rounded to the nano-dollar: the precision costs are accumulated at. */
export function roundUsdNano(usd: number): number {
  return Math.round(usd * 1e9) / 1e9;
}

/** `usd` rounded to the micro-dollar: the precision statuses, results and reports show. */
export function roundUsd(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}
