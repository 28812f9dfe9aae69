/**
 * A task's sandbox settings from the task file to the provider: the loader fills
 * SandboxSettings from the file's `sandbox:` blocks (settingsFromTaskFile), and every
 * activity that makes a task's sandbox asks a provider with sandboxRequest. Nothing else
 * reshapes them, so a new setting has one path to follow.
 */
import type { z } from 'zod';
import { SandboxConfigError } from '../common/errors';
import type { SandboxSettingsSchema } from '../taskfile/schema';
import { isSecretEnvName } from './secrets';
import {
  SANDBOX_PROVIDERS,
  SANDBOX_TIMEOUT_MS,
  type CreateSandboxOptions,
  type SandboxLimits,
  type SandboxProviderName,
  type SandboxSettings,
} from './types';

/** What a task file's `sandbox:` block holds (taskfile/schema.ts). */
export type SandboxSettingsFile = z.infer<typeof SandboxSettingsSchema>;

/** A batch that names no sandbox settings: local, no network, no variables. */
export const NO_SANDBOX_SETTINGS: SandboxSettings = { provider: 'local', networkAllow: [], envAllow: [] };

/** `raw` (a batch's or a task's `sandbox:`) over `base`, limits field by field. */
export function settingsFromTaskFile(raw: SandboxSettingsFile | undefined, base: SandboxSettings): SandboxSettings {
  const settings: SandboxSettings = {
    provider: raw?.provider ?? base.provider,
    template: raw?.template ?? base.template,
    networkAllow: raw?.network_allow ?? base.networkAllow,
    envAllow: raw?.env_allow ?? base.envAllow,
  };
  const l = raw?.limits;
  const own = {
    memoryMb: l?.memory_mb,
    cpus: l?.cpus,
    diskMb: l?.disk_mb,
    openFiles: l?.open_files,
    processes: l?.processes,
  };
  // Field by field: a task that raises memory keeps the batch's CPU bound.
  const limits = { ...base.limits, ...definedLimits(own) };
  if (Object.keys(limits).length > 0) settings.limits = limits;
  return settings;
}

/** A provider and what to ask it to create. */
export interface SandboxRequest {
  provider: SandboxProviderName;
  options: CreateSandboxOptions;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LIMIT_FIELDS = [
  'memoryMb',
  'cpus',
  'diskMb',
  'openFiles',
  'processes',
] as const satisfies readonly (keyof SandboxLimits)[];

/**
 * The create request for the sandbox keyed `key` of a task with `settings` (absent in
 * histories from before tasks carried them: a local sandbox with no network). The settings
 * come out of workflow input, which any client can write, so what the loader validated is
 * checked again here: an unknown provider or a secret's name never reaches a provider.
 * `env` is where the allowed variables' values come from (the worker's inheritedEnv()).
 */
export function sandboxRequest(
  settings: SandboxSettings | undefined,
  key: string,
  extra: { env: NodeJS.ProcessEnv; metadata?: Record<string, string> },
): SandboxRequest {
  const s = settings ?? NO_SANDBOX_SETTINGS;
  const provider = s.provider ?? 'local';
  if (!(SANDBOX_PROVIDERS as readonly string[]).includes(provider)) {
    throw new SandboxConfigError(
      `unknown sandbox provider "${String(provider)}"; use one of ${SANDBOX_PROVIDERS.join(', ')}`,
    );
  }
  const names = s.envAllow ?? [];
  const bad = names.filter((n) => typeof n !== 'string' || !ENV_NAME.test(n));
  if (bad.length)
    throw new SandboxConfigError(
      `sandbox env_allow holds names that are not environment variable names: ${bad.map(String).join(', ')}`,
    );
  const secrets = names.filter(isSecretEnvName);
  if (secrets.length)
    throw new SandboxConfigError(
      `sandbox env_allow may not name a secret (${secrets.join(', ')}): keys and tokens stay in the worker`,
    );

  const { env } = extra;
  const envs: Record<string, string> = {};
  for (const name of names) if (env[name] !== undefined) envs[name] = env[name];
  const network = s.networkAllow ?? [];
  const limits = s.limits ? definedLimits(Object.fromEntries(LIMIT_FIELDS.map((f) => [f, s.limits?.[f]]))) : {};
  return {
    provider,
    options: {
      key,
      ...(s.template !== undefined ? { template: s.template } : {}),
      ...(extra.metadata ? { metadata: extra.metadata } : {}),
      timeoutMs: SANDBOX_TIMEOUT_MS,
      envs,
      network: network.length > 0 ? { allow: [...network] } : 'none',
      ...(Object.keys(limits).length > 0 ? { limits } : {}),
    },
  };
}

function definedLimits(l: Partial<Record<keyof SandboxLimits, number | undefined>>): SandboxLimits {
  return Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined)) as SandboxLimits;
}
