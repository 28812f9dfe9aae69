/**
 * Secrets never leave the night: what goes out (PR titles and bodies, commit messages,
 * patches, the report, notifications) is scanned for the worker's own secret values and
 * for common token shapes, and each hit is replaced by `[REDACTED: <what>]`. The agent
 * may have read a token it should never have seen; this is the last place to stop it.
 */
import { isSecretEnvName } from '../sandbox/secrets';
import { inheritedEnv, type NightshiftConfig } from './config';

export interface Redacted {
  text: string;
  /** What was found, one entry per kind (`GITHUB_TOKEN`, `GitHub token`…); empty when nothing was. */
  found: string[];
}

/** Shorter values are not redacted as values: they would match ordinary text. */
const MIN_SECRET_CHARS = 8;

/** Token shapes, redacted whoever they belong to. */
const SHAPES: Array<[string, RegExp]> = [
  ['private key', /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]{0,20000}?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g],
  ['GitHub token', /\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})/g],
  ['Anthropic key', /\bsk-ant-[A-Za-z0-9_-]{8,}/g],
  ['API key', /\bsk-(proj-|live-)?[A-Za-z0-9_-]{32,}/g],
  ['Slack token', /\bxox[abposr]-[A-Za-z0-9-]{10,}/g],
  ['Slack webhook', /https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9/_-]+/g],
  ['AWS access key', /\b(AKIA|ASIA)[0-9A-Z]{16}\b/g],
  ['Google API key', /\bAIza[0-9A-Za-z_-]{35}\b/g],
  ['Stripe key', /\b[rs]k_(live|test)_[0-9a-zA-Z]{16,}/g],
  ['Telegram bot token', /\b\d{8,10}:AA[A-Za-z0-9_-]{33}\b/g],
  ['bearer token', /(?<=\bBearer\s+)[A-Za-z0-9._~+/-]{20,}=*/g],
];

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class Redactor {
  private readonly values: RegExp | undefined;
  private readonly names = new Map<string, string>();

  /** `secrets`: name → value of the worker's secrets (empty and short values are skipped). */
  constructor(secrets: Record<string, string | undefined>) {
    for (const [name, value] of Object.entries(secrets)) {
      const v = value?.trim();
      if (v && v.length >= MIN_SECRET_CHARS && !this.names.has(v)) this.names.set(v, name);
    }
    // Longest first, so a value that contains another is redacted whole.
    const all = [...this.names.keys()].sort((a, b) => b.length - a.length);
    this.values = all.length ? new RegExp(all.map(escapeRegExp).join('|'), 'g') : undefined;
  }

  redact(text: string): Redacted {
    const found = new Set<string>();
    let out = text;
    if (this.values) {
      out = out.replace(this.values, (v) => {
        const name = this.names.get(v) ?? 'secret';
        found.add(name);
        return `[REDACTED: ${name}]`;
      });
    }
    for (const [kind, re] of SHAPES) {
      out = out.replace(re, () => {
        found.add(kind);
        return `[REDACTED: ${kind}]`;
      });
    }
    return { text: out, found: [...found] };
  }

  /** Redacts every string inside a JSON-shaped value; `found` as for `redact`. */
  redactDeep<T>(value: T): { value: T; found: string[] } {
    const found = new Set<string>();
    const walk = (v: unknown): unknown => {
      if (typeof v === 'string') {
        const r = this.redact(v);
        r.found.forEach((f) => found.add(f));
        return r.text;
      }
      if (Array.isArray(v)) return v.map(walk);
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
      return v;
    };
    return { value: walk(value) as T, found: [...found] };
  }
}

type SecretConfig = Partial<Pick<NightshiftConfig, 'anthropic' | 'github' | 'e2b' | 'notify'>>;

/**
 * The worker's secrets: those in its configuration and every variable of its environment
 * whose name says secret (the names that never pass into a sandbox).
 */
export function workerRedactor(config: SecretConfig = {}, env: NodeJS.ProcessEnv = inheritedEnv()): Redactor {
  const secrets: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(env)) if (isSecretEnvName(name)) secrets[name] = value;
  Object.assign(secrets, {
    ANTHROPIC_API_KEY: config.anthropic?.apiKey ?? secrets.ANTHROPIC_API_KEY,
    GITHUB_TOKEN: config.github?.token ?? secrets.GITHUB_TOKEN,
    E2B_API_KEY: config.e2b?.apiKey ?? secrets.E2B_API_KEY,
    TELEGRAM_BOT_TOKEN: config.notify?.telegramBotToken ?? secrets.TELEGRAM_BOT_TOKEN,
    NIGHTSHIFT_SLACK_WEBHOOK_URL: config.notify?.slackWebhookUrl ?? secrets.NIGHTSHIFT_SLACK_WEBHOOK_URL,
    NIGHTSHIFT_WEBHOOK_URL: config.notify?.webhookUrl ?? secrets.NIGHTSHIFT_WEBHOOK_URL,
  });
  return new Redactor(secrets);
}

/** The note a redaction leaves: "redacted a secret-shaped value (GITHUB_TOKEN, Anthropic key) from the PR body". */
export function redactionNote(found: string[], where: string): string {
  return `redacted a secret-shaped value${found.length ? ` (${found.join(', ')})` : ''} from ${where}`;
}
