/**
 * The one place nightshift reads its environment. Everything else receives a
 * `NightshiftConfig`, so tests can build one without touching `process.env`; what passes
 * the environment on unread (to a child process, into a sandbox) takes it from `inheritedEnv()`.
 */
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { didYouMeanSuffix } from './suggest';

export const LOG_FORMATS = ['text', 'json'] as const;
export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const;

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
    /**
     * Port of the embedded dev server's Web UI, and of the links the CLI prints (NIGHTSHIFT_UI_PORT).
     * @default the server's port + 1000, as `temporal server start-dev` picks it (8233 for 7233)
     */
    uiPort: number;
  };
  anthropic: { apiKey?: string; baseUrl?: string };
  github: { token?: string; apiUrl?: string };
  /**
   * E2B_API_KEY, E2B_API_URL / E2B_DOMAIN / E2B_SANDBOX_URL for a self-hosted or test
   * service, E2B_TEMPLATE for tasks that name no `sandbox.template`.
   */
  e2b: { apiKey?: string; apiUrl?: string; domain?: string; sandboxUrl?: string; template?: string };
  /**
   * NIGHTSHIFT_DAILY_MAX_COST_USD: cap on the spend of all batches of a UTC day (folder mode's
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
  /** The worker's log (worker/log.ts). */
  log: {
    /** NIGHTSHIFT_LOG_FORMAT: `text` lines for a terminal, or `json` lines for a log collector. @default 'text' */
    format: (typeof LOG_FORMATS)[number];
    /** NIGHTSHIFT_LOG_LEVEL: the least severe SDK message shown; task events always show. @default 'WARN' */
    level: (typeof LOG_LEVELS)[number];
  };
  /** Worker Versioning: which Worker Deployment Version this worker is (docs/operations.md, "Deploying during a night"). */
  deployment: DeploymentSettings;
  /**
   * The Temporal server and sql tool `scripts/bootstrap.sh --cluster` builds for `npm run cluster`,
   * with the schemas of their version. @default <cache>/nightshift/temporal-server (NIGHTSHIFT_TEMPORAL_SERVER_DIR)
   */
  temporalServerDir: string;
  /**
   * NIGHTSHIFT_HOST_ID: names this worker's own task queue (common/task-queues.ts), which
   * every activity touching a local sandbox it created is sent to. Workers sharing a disk
   * may share it; workers on separate disks must not. @default <hostname>-<hash of root>,
   * the same after a restart on the same host and root
   */
  hostId: string;
  /** The machine this process runs on, as its environment describes it. */
  host: HostSettings;
}

export interface HostSettings {
  /** PATH, split: where `bwrap`, `temporal` and `nightshift` are looked for (the CLI's hints, the worker's capabilities). */
  searchPath: string[];
  /**
   * DOCKER_HOST: the Docker engine of the `docker` sandbox provider (dockerode reads it too).
   * @default none: /var/run/docker.sock
   */
  dockerHost?: string;
  /** npm_lifecycle_event: the npm script this run came through, so a hint says `npm run nightshift --` after that one. */
  npmScript?: string;
  /** USER: who answers a question, when the system knows no name for this user ID. */
  user?: string;
}

export interface DeploymentSettings {
  /** NIGHTSHIFT_WORKER_VERSIONING=off polls as an unversioned worker. @default on */
  versioning: boolean;
  /** NIGHTSHIFT_DEPLOYMENT_NAME. @default 'nightshift' */
  name: string;
  /** NIGHTSHIFT_BUILD_ID. @default <package version>+<git commit> (worker/versioning.ts) */
  buildId?: string;
  /**
   * NIGHTSHIFT_DEPLOY_PROMOTE: `auto` makes a starting worker's version the current one, so a
   * one-host install upgrades by restarting its worker; `manual` leaves that to the operator
   * (`temporal worker deployment set-current-version` / `set-ramping-version`). @default auto
   */
  promote: 'auto' | 'manual';
}

export type StoreSetting = { kind: 'file' } | { kind: 'postgres'; url: string };

export interface NotifyEnv {
  /** TELEGRAM_BOT_TOKEN: secret, never leaves the worker. */
  telegramBotToken?: string;
  /** TELEGRAM_CHAT_ID; a task file's notify.telegram.chat_id overrides it. */
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
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`${name} must be a number of US dollars above 0, e.g. 50; got "${v}"`);
  return n;
}

/** A TCP port, or unset; anything else is a configuration error that names the variable. */
function readPort(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = readEnv(env, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new Error(`${name} must be a port number from 1 to 65535; got "${v}"`);
  return n;
}

/** One of `allowed` (case-insensitive), or unset; anything else is a configuration error that names the variable. */
function readChoice<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[]): T | undefined {
  const v = readEnv(env, name);
  if (v === undefined) return undefined;
  const hit = allowed.find((a) => a.toLowerCase() === v.toLowerCase());
  if (!hit) throw new Error(`${name} must be one of ${allowed.join(', ')}; got "${v}"${didYouMeanSuffix(v, allowed)}`);
  return hit;
}

/** Where the Temporal CLI's config file is looked for besides TEMPORAL_CONFIG_FILE. */
const CONFIG_DIR_VARS = ['HOME', 'XDG_CONFIG_HOME', 'APPDATA'];

function readStore(env: NodeJS.ProcessEnv): StoreSetting {
  const v = readEnv(env, 'NIGHTSHIFT_STORE');
  if (v === undefined || v === 'file') return { kind: 'file' };
  if (/^postgres(ql)?:\/\//.test(v)) return { kind: 'postgres', url: v };
  throw new Error(
    `NIGHTSHIFT_STORE must be "file" or a postgres://user:password@host:port/database URL; got "${v.replace(/\/\/[^@/]*@/, '//***@')}"`,
  );
}

/**
 * The settings, from `env` with `overrides` laid over it (the CLI's connection flags stand
 * for their TEMPORAL_* variables). Throws an Error naming the variable for a value it refuses.
 */
export function loadConfig(
  base: NodeJS.ProcessEnv = process.env,
  overrides: Record<string, string> = {},
): NightshiftConfig {
  const env = { ...base, ...overrides };
  const temporalVars: Record<string, string> = {};
  for (const [k, v] of Object.entries(env))
    if ((k.startsWith('TEMPORAL_') || CONFIG_DIR_VARS.includes(k)) && v !== undefined) temporalVars[k] = v;
  // envconfig understands TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*,
  // TEMPORAL_PROFILE and the Temporal CLI's config file, so Cloud and self-hosted clusters work alike.
  const loaded = loadClientConnectConfig({ overrideEnvVars: temporalVars });
  const address = loaded.connectionOptions.address ?? 'localhost:7233';
  const root = path.resolve(readEnv(env, 'NIGHTSHIFT_ROOT') ?? process.cwd());
  return {
    root,
    temporal: {
      address,
      namespace: loaded.namespace ?? 'default',
      connection: { ...loaded.connectionOptions, address },
      uiPort: readPort(env, 'NIGHTSHIFT_UI_PORT') ?? defaultUiPort(address),
    },
    anthropic: { apiKey: readEnv(env, 'ANTHROPIC_API_KEY'), baseUrl: readEnv(env, 'ANTHROPIC_BASE_URL') },
    github: { token: readEnv(env, 'GITHUB_TOKEN'), apiUrl: readEnv(env, 'GITHUB_API_URL') },
    e2b: {
      apiKey: readEnv(env, 'E2B_API_KEY'),
      apiUrl: readEnv(env, 'E2B_API_URL'),
      domain: readEnv(env, 'E2B_DOMAIN'),
      sandboxUrl: readEnv(env, 'E2B_SANDBOX_URL'),
      template: readEnv(env, 'E2B_TEMPLATE'),
    },
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
    deployment: readDeployment(env),
    temporalServerDir: readEnv(env, 'NIGHTSHIFT_TEMPORAL_SERVER_DIR') ?? path.join(cacheDir(env), 'temporal-server'),
    hostId: readEnv(env, 'NIGHTSHIFT_HOST_ID') ?? defaultHostId(root),
    host: {
      searchPath: (env.PATH ?? '').split(path.delimiter).filter(Boolean),
      dockerHost: dockerHost(env),
      npmScript: readEnv(env, 'npm_lifecycle_event'),
      user: readEnv(env, 'USER'),
    },
    log: {
      format: readChoice(env, 'NIGHTSHIFT_LOG_FORMAT', LOG_FORMATS) ?? 'text',
      level: readChoice(env, 'NIGHTSHIFT_LOG_LEVEL', LOG_LEVELS) ?? 'WARN',
    },
  };
}

function readDeployment(env: NodeJS.ProcessEnv): DeploymentSettings {
  const versioning = readEnv(env, 'NIGHTSHIFT_WORKER_VERSIONING') ?? 'on';
  if (versioning !== 'on' && versioning !== 'off')
    throw new Error(`NIGHTSHIFT_WORKER_VERSIONING must be on or off; got "${versioning}"`);
  const promote = readEnv(env, 'NIGHTSHIFT_DEPLOY_PROMOTE') ?? 'auto';
  if (promote !== 'auto' && promote !== 'manual')
    throw new Error(`NIGHTSHIFT_DEPLOY_PROMOTE must be auto or manual; got "${promote}"`);
  const name = readEnv(env, 'NIGHTSHIFT_DEPLOYMENT_NAME') ?? 'nightshift';
  const buildId = readEnv(env, 'NIGHTSHIFT_BUILD_ID');
  // The server joins the two with a colon in the TemporalWorkerDeploymentVersion search attribute.
  for (const [k, v] of [
    ['NIGHTSHIFT_DEPLOYMENT_NAME', name],
    ['NIGHTSHIFT_BUILD_ID', buildId],
  ] as const) {
    if (v !== undefined && !/^[A-Za-z0-9._+-]{1,200}$/.test(v))
      throw new Error(`${k} may hold letters, digits and . _ + - only; got "${v}"`);
  }
  return { versioning: versioning === 'on', name, buildId, promote };
}

/** DOCKER_HOST; also read where the Docker provider names the engine it could not reach. */
export function dockerHost(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return readEnv(env, 'DOCKER_HOST');
}

/**
 * NIGHTSHIFT_DEBUG: the CLI prints an error's stack trace after its message. Read on its own
 * because it must work when the other settings are refused. @default off
 */
export function debugStacks(env: NodeJS.ProcessEnv = process.env): boolean {
  return readEnv(env, 'NIGHTSHIFT_DEBUG') !== undefined;
}

/**
 * This process's environment, for code that passes it on without reading a setting from it:
 * child processes (git, psql, the Temporal server tools) inherit it, a task's `env_allow` names
 * variables of it to pass into the task's sandbox, and the redactor takes the values of its
 * secret-named variables.
 */
export function inheritedEnv(): NodeJS.ProcessEnv {
  return process.env;
}

/** Two workers with separate roots on one machine hold separate sandboxes, so the root is part of the default. */
function defaultHostId(root: string): string {
  return `${os.hostname()}-${createHash('sha256').update(root).digest('hex').slice(0, 8)}`;
}

/** Per-machine cache shared by every clone (the Temporal CLI and server builds live here). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = readEnv(env, 'NIGHTSHIFT_CACHE');
  if (base) return base;
  return path.join(readEnv(env, 'XDG_CACHE_HOME') ?? path.join(readEnv(env, 'HOME') ?? '/tmp', '.cache'), 'nightshift');
}

/** Where nightshift keeps its own state under the root: the dev server's SQLite file, transcripts, sandboxes. */
export function stateDir(config: Pick<NightshiftConfig, 'root'>): string {
  return path.join(config.root, '.nightshift');
}

/** `temporal server start-dev` serves its Web UI 1000 above its port: a second server on another port moves its UI too. */
export function defaultUiPort(address: string): number {
  const port = Number(address.split(':')[1] ?? 7233);
  return Number.isInteger(port) && port + 1000 <= 65535 ? port + 1000 : 8233;
}

/** Web UI address of the embedded dev server. */
export function webUiUrl(config: Pick<NightshiftConfig, 'temporal'>): string {
  const host = config.temporal.address.split(':')[0] || 'localhost';
  return `http://${host}:${config.temporal.uiPort}`;
}
