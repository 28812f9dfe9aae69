/**
 * The one place nightshift reads its environment. Everything else receives a
 * `NightshiftConfig`, so tests can build one without touching `process.env`.
 */
import * as path from 'node:path';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';

/** The task queue is part of the public contract (design.md). */
export const TASK_QUEUE = 'nightshift';

export interface NightshiftConfig {
  /** Directory that task file paths resolve against, and that holds `.nightshift/` and `results/`. @default process.cwd() */
  root: string;
  temporal: {
    /** @default 'localhost:7233' (TEMPORAL_ADDRESS) */
    address: string;
    /** @default 'default' (TEMPORAL_NAMESPACE) */
    namespace: string;
    /** TLS, API key and gRPC metadata from TEMPORAL_* variables or a Temporal config profile. */
    connection: NativeConnectionOptions;
  };
  anthropic: { apiKey?: string; baseUrl?: string };
  github: { token?: string; apiUrl?: string };
  /** E2B_API_KEY, and E2B_API_URL / E2B_DOMAIN for a self-hosted or test control plane. */
  e2b: { apiKey?: string; apiUrl?: string; domain?: string };
  /**
   * NIGHTSHIFT_DAILY_MAX_COST_USD: cap on the spend of all batches of a UTC day (seed 000's
   * daily budget). A batch file's daily_max_cost_usd can lower it, not raise it. @default none
   */
  dailyMaxCostUsd?: number;
  /** Notification channels from the environment; a task file's `notify:` adds to them. */
  notify: NotifyEnv;
  /**
   * NIGHTSHIFT_MODELS_FILE: a JSON file laid over the shipped model table (common/models.json):
   * prices, aliases, end-of-life dates, new models. @default none
   */
  modelsFile?: string;
  /**
   * NIGHTSHIFT_STORE: where state that must outlive a worker host lives (transcripts,
   * checkpoints, the night's spec). `file` keeps it under `<root>/.nightshift`, for one
   * machine; `postgres://user:pass@host:5432/db` puts it in PostgreSQL (the database a
   * Temporal cluster runs on does), shared by workers on any number of hosts; the worker
   * creates its tables at start. @default 'file'
   */
  store: StoreSetting;
  /** The Temporal CLI that scripts/bootstrap.sh builds. @default <cache>/nightshift/temporal-cli/temporal (TEMPORAL_CLI) */
  temporalCli: string;
}

export type StoreSetting = { kind: 'file' } | { kind: 'postgres'; url: string };

export interface NotifyEnv {
  /** TELEGRAM_BOT_TOKEN (seed 001): secret, never leaves the worker. */
  telegramBotToken?: string;
  /** TELEGRAM_CHAT_ID (seed 001); a task file's notify.telegram.chat_id overrides it. */
  telegramChatId?: string;
  /** NIGHTSHIFT_TELEGRAM_API_URL. @default https://api.telegram.org */
  telegramApiUrl: string;
  /** NIGHTSHIFT_SLACK_WEBHOOK_URL: a Slack incoming webhook. */
  slackWebhookUrl?: string;
  /** NIGHTSHIFT_WEBHOOK_URL: receives each event as JSON. */
  webhookUrl?: string;
}

/** Trims and drops empty values, so `FOO= ` counts as unset. */
function readEnv(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

/** A positive amount of US dollars, or unset; anything else is a configuration error that names the variable. */
function readDollars(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = readEnv(env, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a number of US dollars above 0, e.g. 50; got "${v}"`);
  return n;
}

function readStore(env: NodeJS.ProcessEnv): StoreSetting {
  const v = readEnv(env, 'NIGHTSHIFT_STORE');
  if (v === undefined || v === 'file') return { kind: 'file' };
  if (/^postgres(ql)?:\/\//.test(v)) return { kind: 'postgres', url: v };
  throw new Error(`NIGHTSHIFT_STORE must be "file" or a postgres://user:password@host:port/database URL; got "${v.replace(/\/\/[^@/]*@/, '//***@')}"`);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): NightshiftConfig {
  const overrides: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (k.startsWith('TEMPORAL_') && v !== undefined) overrides[k] = v;
  // envconfig understands TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*,
  // TEMPORAL_PROFILE and the Temporal CLI's config file, so Cloud and self-hosted clusters work alike.
  const loaded = loadClientConnectConfig({ overrideEnvVars: overrides });
  const address = loaded.connectionOptions.address ?? 'localhost:7233';
  return {
    root: path.resolve(readEnv(env, 'NIGHTSHIFT_ROOT') ?? process.cwd()),
    temporal: {
      address,
      namespace: loaded.namespace ?? 'default',
      connection: { ...loaded.connectionOptions, address },
    },
    anthropic: { apiKey: readEnv(env, 'ANTHROPIC_API_KEY'), baseUrl: readEnv(env, 'ANTHROPIC_BASE_URL') },
    github: { token: readEnv(env, 'GITHUB_TOKEN'), apiUrl: readEnv(env, 'GITHUB_API_URL') },
    e2b: { apiKey: readEnv(env, 'E2B_API_KEY'), apiUrl: readEnv(env, 'E2B_API_URL'), domain: readEnv(env, 'E2B_DOMAIN') },
    dailyMaxCostUsd: readDollars(env, 'NIGHTSHIFT_DAILY_MAX_COST_USD'),
    notify: {
      telegramBotToken: readEnv(env, 'TELEGRAM_BOT_TOKEN'),
      telegramChatId: readEnv(env, 'TELEGRAM_CHAT_ID'),
      telegramApiUrl: readEnv(env, 'NIGHTSHIFT_TELEGRAM_API_URL') ?? 'https://api.telegram.org',
      slackWebhookUrl: readEnv(env, 'NIGHTSHIFT_SLACK_WEBHOOK_URL'),
      webhookUrl: readEnv(env, 'NIGHTSHIFT_WEBHOOK_URL'),
    },
    modelsFile: readEnv(env, 'NIGHTSHIFT_MODELS_FILE'),
    store: readStore(env),
    temporalCli: readEnv(env, 'TEMPORAL_CLI') ?? path.join(cacheDir(env), 'temporal-cli', 'temporal'),
  };
}

/** Per-machine cache shared by every clone (the Temporal CLI build lives here). */
function cacheDir(env: NodeJS.ProcessEnv): string {
  const base = readEnv(env, 'NIGHTSHIFT_CACHE');
  if (base) return base;
  return path.join(readEnv(env, 'XDG_CACHE_HOME') ?? path.join(readEnv(env, 'HOME') ?? '/tmp', '.cache'), 'nightshift');
}

/** Where nightshift keeps its own state under the root: the dev server's SQLite file, transcripts, sandboxes. */
export function stateDir(config: Pick<NightshiftConfig, 'root'>): string {
  return path.join(config.root, '.nightshift');
}

/** Web UI address of the embedded dev server. */
export function webUiUrl(config: Pick<NightshiftConfig, 'temporal'>): string {
  const host = config.temporal.address.split(':')[0] || 'localhost';
  return `http://${host}:8233`;
}
