/**
 * Chooses the sandbox provider from config. The schema here is embedded in the task-file
 * schema (batch and task level), so an unknown provider is a validation error there.
 */
import { z } from 'zod';
import { inheritedEnv, type NightshiftConfig } from '../common/config';
import { SandboxConfigError } from '../common/errors';
import { createDockerProvider } from './docker';
import { createE2BProvider } from './e2b';
import { createLocalProvider } from './local';
import { isSecretEnvName } from './secrets';
import { DEFAULT_DISK_MB, type NetworkPolicy, type SandboxProvider } from './types';

export type { Sandbox, SandboxProvider, ExecResult, ExecOptions, CreateSandboxOptions, NetworkPolicy } from './types';
export { routeSandboxes, type SandboxRouter } from './router';
export { checkCommand, resolveInWorkspace, SafetyPolicySchema, DEFAULT_SAFETY_POLICY, type SafetyPolicy } from './policy';

export const SandboxConfigSchema = z.object({
  /** @default 'local' */
  provider: z.enum(['local', 'e2b', 'docker']).default('local'),
  /** E2B template or Docker image. @default the provider's default */
  template: z.string().min(1).optional(),
  /** Sandbox lifetime (e2b) and default per-command timeout. @default 1 hour */
  timeoutMs: z.number().int().positive().default(60 * 60_000),
  /** Hosts the sandbox may reach, e.g. the package registry for `npm install`. @default [] (no network) */
  network: z.array(z.string().min(1)).default([]),
  /** Variables set in the sandbox, by value. @default {} */
  env: z.record(z.string(), z.string()).default({}),
  /** Names of worker variables copied in by value. Secret-looking names are refused. @default [] */
  passEnv: z
    .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/))
    .default([])
    .refine((names) => !names.some(isSecretEnvName), { message: 'passEnv may not name a secret (keys, tokens, passwords stay in the worker)' }),
});
export type SandboxConfig = z.infer<typeof SandboxConfigSchema>;

export interface ProviderDeps {
  /** Root for local sandboxes: `<NIGHTSHIFT_ROOT>/.nightshift/sandboxes`. */
  localRoot: string;
  /** E2B credentials and endpoints (config.e2b). */
  e2b?: NightshiftConfig['e2b'];
}

export function createSandboxProvider(config: z.input<typeof SandboxConfigSchema>, deps: ProviderDeps): SandboxProvider {
  const c = SandboxConfigSchema.parse(config);
  switch (c.provider) {
    case 'local':
      return createLocalProvider({ root: deps.localRoot, defaultExecTimeoutMs: c.timeoutMs, defaultDiskMb: DEFAULT_DISK_MB });
    case 'e2b': {
      const apiKey = deps.e2b?.apiKey;
      if (!apiKey) throw new SandboxConfigError('sandbox provider "e2b" needs E2B_API_KEY in the worker environment (or choose provider "local")');
      const e2b = deps.e2b;
      return createE2BProvider({ apiKey, apiUrl: e2b?.apiUrl, domain: e2b?.domain, sandboxUrl: e2b?.sandboxUrl, template: c.template ?? e2b?.template, timeoutMs: c.timeoutMs, defaultExecTimeoutMs: c.timeoutMs });
    }
    case 'docker':
      return createDockerProvider({ image: c.template, defaultExecTimeoutMs: c.timeoutMs });
  }
}

/** The create options a config implies: the env allowlist and the network policy. */
export function sandboxCreateOptions(config: z.input<typeof SandboxConfigSchema>, env: NodeJS.ProcessEnv = inheritedEnv()): { envs: Record<string, string>; network: NetworkPolicy; template?: string; timeoutMs: number } {
  const c = SandboxConfigSchema.parse(config);
  const envs: Record<string, string> = {};
  for (const name of c.passEnv) if (env[name] !== undefined) envs[name] = env[name] as string;
  return { envs: { ...envs, ...c.env }, network: c.network.length > 0 ? { allow: c.network } : 'none', template: c.template, timeoutMs: c.timeoutMs };
}
