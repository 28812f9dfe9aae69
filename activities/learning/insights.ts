/**
 * `nightshift insights`: what is working. Every task result in results/*.json joined with
 * its rating from feedback, grouped by night, role, model and complexity: how many ran,
 * how many succeeded, what they cost, how people rated them.
 */
import { loadHistory, modelFamily, type HistoryRecord } from '../planning/estimate';
import { chooseRole } from '../task/prompt-roles';
import { loadRatings } from './store';

export interface InsightRow {
  key: string;
  tasks: number;
  succeeded: number;
  successRate: number;
  costUsd: number;
  avgCostUsd: number;
  /** Mean rating scaled to 5, over the rated tasks. */
  avgRating?: number;
  rated: number;
}

export interface Insights {
  total: InsightRow;
  byDate: InsightRow[];
  byRole: InsightRow[];
  byModel: InsightRow[];
  byComplexity: InsightRow[];
}

type Rated = HistoryRecord & { rating?: number };

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

function row(key: string, rs: Rated[]): InsightRow {
  const rated = rs.filter((r) => r.rating !== undefined);
  const cost = rs.reduce((a, r) => a + r.costUsd, 0);
  const succeeded = rs.filter((r) => r.state === 'succeeded').length;
  return {
    key,
    tasks: rs.length,
    succeeded,
    successRate: rs.length ? round(succeeded / rs.length) : 0,
    costUsd: round(cost),
    avgCostUsd: rs.length ? round(cost / rs.length) : 0,
    ...(rated.length ? { avgRating: round(rated.reduce((a, r) => a + r.rating!, 0) / rated.length, 1) } : {}),
    rated: rated.length,
  };
}

function group(rs: Rated[], keyOf: (r: Rated) => string): InsightRow[] {
  const m = new Map<string, Rated[]>();
  for (const r of rs) m.set(keyOf(r), [...(m.get(keyOf(r)) ?? []), r]);
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => row(k, v));
}

export async function computeInsights(root: string): Promise<Insights> {
  const ratings = new Map((await loadRatings(root)).map((r) => [`${r.date}/${r.task}`, (r.rating / r.outOf) * 5]));
  // Tasks that never ran (skipped, still pending) say nothing about what works.
  const rs: Rated[] = (await loadHistory(root))
    .filter((h) => !['skipped', 'pending', 'running'].includes(h.state))
    .map((h) => ({ ...h, rating: ratings.get(`${h.date}/${h.task}`) }));
  return {
    total: row('all', rs),
    byDate: group(rs, (r) => r.date ?? '?'),
    byRole: group(rs, (r) => chooseRole({ role: r.role, title: r.title ?? '', description: '' })),
    byModel: group(rs, (r) => (r.model ? (r.replay ? 'replay' : modelFamily(r.model)!) : 'command')),
    byComplexity: group(rs, (r) => r.complexity ?? 'unset'),
  };
}
