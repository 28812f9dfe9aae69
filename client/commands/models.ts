/** `nightshift models`: the model table in force, and the model warnings validate and start print. */
import {
  daysToEndOfLife,
  modelEntry,
  modelTable,
  nearestModels,
  resolveModel,
  worstCasePrice,
} from '../../common/models';
import type { NightshiftConfig } from '../../common/config';
import { SpecError, type SpecIssue } from '../../common/errors';
import type { BatchSpec } from '../../taskfile/types';
import { table } from '../format';
import { load } from '../lazy';

/** Warn this many days before a model's end of life. */
export const END_OF_LIFE_WARNING_DAYS = 14;

export interface ModelRow {
  id: string;
  name?: string;
  /** Aliases that point at this model. */
  aliases: string[];
  /** USD per million tokens. */
  prices: { input: number; output: number; cacheWrite5m: number; cacheWrite1h: number; cacheRead: number };
  tiers?: {
    abovePromptTokens: number;
    input: number;
    output: number;
    cacheWrite5m: number;
    cacheWrite1h: number;
    cacheRead: number;
  }[];
  contextWindow: number;
  maxOutput: number | null;
  endOfLife: string | null;
  /** Days from today to the end of life; negative once past. */
  daysToEndOfLife: number | null;
  forcedToolUse: 'accepted' | 'rejected';
  thinking: string;
  effort: boolean;
}

export interface ModelsListing {
  aliases: Record<string, string>;
  models: ModelRow[];
  /** The user's file laid over the shipped table, when NIGHTSHIFT_MODELS_FILE is set. */
  modelsFile?: string;
}

export function listModels(today: string, modelsFile?: string): ModelsListing {
  const t = modelTable();
  const models = Object.entries(t.models).map(([id, m]): ModelRow => ({
    id,
    name: m.name,
    aliases: Object.entries(t.aliases)
      .filter(([, target]) => target === id)
      .map(([a]) => a),
    prices: m.prices,
    ...(m.tiers?.length ? { tiers: m.tiers } : {}),
    contextWindow: m.contextWindow,
    maxOutput: m.maxOutput ?? null,
    endOfLife: m.endOfLife ?? null,
    daysToEndOfLife: daysToEndOfLife(id, today) ?? null,
    forcedToolUse: m.forcedToolUse,
    thinking: m.thinking,
    effort: m.effort,
  }));
  return { aliases: { ...t.aliases }, models, ...(modelsFile ? { modelsFile } : {}) };
}

const tokens = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : `${Math.round(n / 1000)}K`);
const rate = (n: number) => `${n}`;

export function renderModels(l: ModelsListing): string {
  const rows = l.models.map((m) => [
    m.id,
    m.aliases.join(', ') || '-',
    `${rate(m.prices.input)} / ${rate(m.prices.output)}${m.tiers?.length ? ` (${m.tiers.map((t) => `${rate(t.input)} / ${rate(t.output)} over ${tokens(t.abovePromptTokens)}`).join('; ')})` : ''}`,
    `${rate(m.prices.cacheWrite5m)} / ${rate(m.prices.cacheWrite1h)} / ${rate(m.prices.cacheRead)}`,
    `${tokens(m.contextWindow)} / ${m.maxOutput ? tokens(m.maxOutput) : '?'}`,
    m.forcedToolUse === 'accepted' ? 'forced' : 'auto + check',
    m.thinking + (m.effort ? ', effort' : ''),
    m.endOfLife
      ? `${m.endOfLife}${m.daysToEndOfLife !== null && m.daysToEndOfLife <= END_OF_LIFE_WARNING_DAYS ? (m.daysToEndOfLife < 0 ? ' (past)' : ` (in ${m.daysToEndOfLife} d)`) : ''}`
      : '-',
  ]);
  const dearest = worstCasePrice();
  return [
    table(
      [
        'MODEL',
        'ALIAS',
        '$/M IN / OUT',
        'CACHE 5M / 1H / READ',
        'WINDOW / OUT',
        'TOOL ANSWER',
        'THINKING',
        'END OF LIFE',
      ],
      rows,
    ),
    '',
    `an unknown model is charged ${dearest.input} / ${dearest.output} per million tokens (the dearest row)` +
      (l.modelsFile ? `; prices and aliases include ${l.modelsFile}` : '; sources in common/models.json'),
  ].join('\n');
}

/**
 * What validate and start warn about, without failing: an agent task whose model is past or
 * within END_OF_LIFE_WARNING_DAYS of its end of life on the night's date, and a model ID the
 * table does not know (a typo, with the nearest known names).
 */
export function modelWarnings(spec: Pick<BatchSpec, 'tasks'>, nightDate: string): string[] {
  const out: string[] = [];
  for (const t of spec.tasks) {
    if (t.command !== undefined) continue;
    const named = t.model ?? `${t.complexity ?? 'medium'} complexity`;
    const id = resolveModel(t.model, t.complexity);
    if (!modelEntry(id)) {
      const near = nearestModels(id);
      out.push(
        `task ${t.id}: model "${id}" is not in the model table${near.length ? ` (did you mean ${near.join(' or ')}?)` : ''}; if the API knows it, it is charged at the dearest row; see nightshift models`,
      );
      continue;
    }
    const days = daysToEndOfLife(id, nightDate);
    if (days === undefined || days > END_OF_LIFE_WARNING_DAYS) continue;
    const eol = modelEntry(id)!.endOfLife!;
    const via = t.model && t.model !== id ? ` (${t.model})` : !t.model ? ` (${named})` : '';
    const current = resolveModel(
      Object.keys(modelTable().aliases).find((a) => id.includes(a)),
      undefined,
    );
    out.push(
      days < 0
        ? `task ${t.id}: model ${id}${via} reached its end of life on ${eol}; its requests will fail (the current one is ${current})`
        : `task ${t.id}: model ${id}${via} reaches its end of life on ${eol}, ${days === 0 ? 'the night itself' : `${days} day${days === 1 ? '' : 's'} after ${nightDate}`} (the current one is ${current})`,
    );
  }
  return out;
}

/**
 * Model IDs the API offers this key (GET /v1/models, every page). Only asked when a key is
 * set: a name the API does not offer fails every request of the night, so validate says so
 * before it starts. Bounded so an unreachable API delays validate by seconds, not minutes.
 */
export async function offeredModelIds(config: Pick<NightshiftConfig, 'anthropic'>): Promise<string[]> {
  // The SDK is loaded here, not with the table: `models` and a keyless `validate` never call it.
  const client = load.modelClient().createAnthropicClient(config, { maxRetries: 0, timeoutMs: 10_000 });
  if (!client) return [];
  const ids: string[] = [];
  for await (const m of client.models.list({ limit: 1000 })) ids.push(m.id);
  return ids;
}

/**
 * What `validate` and `start` ask the API of a night's models, when a key is set: a model
 * it does not offer is a spec error (thrown); an API that cannot be asked is a warning
 * (returned), since the night may still run.
 */
export async function checkModelsOffered(
  config: Pick<NightshiftConfig, 'anthropic'>,
  spec: Pick<BatchSpec, 'tasks'>,
): Promise<string[]> {
  if (!config.anthropic.apiKey) return [];
  let offered: string[];
  try {
    offered = await offeredModelIds(config);
  } catch (err) {
    return [`model names not checked against the API: ${err instanceof Error ? err.message : String(err)}`];
  }
  const missing = modelsNotOffered(spec, offered);
  if (missing.length) throw new SpecError(missing);
  return [];
}

/**
 * Agent tasks whose model the API does not offer. An alias in the model table stands for
 * a dated ID (`claude-sonnet-4-5` -> `claude-sonnet-4-5-20250929`), so an offered ID that
 * is the name plus a date counts as offered.
 */
export function modelsNotOffered(spec: Pick<BatchSpec, 'tasks'>, offered: readonly string[]): SpecIssue[] {
  const ids = new Set(offered);
  const isOffered = (id: string) =>
    ids.has(id) || offered.some((o) => o.startsWith(`${id}-`) && /^\d{8}$/.test(o.slice(id.length + 1)));
  const out: SpecIssue[] = [];
  for (const t of spec.tasks) {
    if (t.command !== undefined) continue;
    const id = resolveModel(t.model, t.complexity);
    if (isOffered(id)) continue;
    const near = nearestModels(id, 2, offered);
    out.push({
      file: t.source.file,
      line: t.source.line,
      path: `${t.id}: model`,
      message: `the model API does not offer "${id}"${t.model && t.model !== id ? ` (${t.model})` : ''}${near.length ? `; did you mean ${near.join(' or ')}?` : ''} (nightshift models lists the known ones)`,
    });
  }
  return out;
}
