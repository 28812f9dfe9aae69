/**
 * Builds a worker's sandbox providers. A task's own settings reach a provider through
 * settings.ts (sandboxRequest); the provider names are checked by the task-file schema.
 */
import type { NightshiftConfig } from '../common/config';
import { SandboxConfigError } from '../common/errors';
import { createDockerProvider } from './docker';
import { createE2BProvider } from './e2b';
import { createLocalProvider } from './local';
import { DEFAULT_DISK_MB, SANDBOX_TIMEOUT_MS, type SandboxProviderName, type SandboxProvider } from './types';

export type {
  Sandbox,
  SandboxProvider,
  ExecResult,
  ExecOptions,
  CreateSandboxOptions,
  NetworkPolicy,
  SandboxSettings,
  SandboxProviderName,
} from './types';
export { routeSandboxes, type SandboxRouter } from './router';
export { sandboxRequest, settingsFromTaskFile, type SandboxRequest } from './settings';
export {
  checkCommand,
  resolveInWorkspace,
  SafetyPolicySchema,
  DEFAULT_SAFETY_POLICY,
  type SafetyPolicy,
} from './policy';

export interface ProviderDeps {
  /** Root for local sandboxes: `<NIGHTSHIFT_ROOT>/.nightshift/sandboxes`. */
  localRoot: string;
  /** E2B credentials and endpoints (config.e2b). */
  e2b?: NightshiftConfig['e2b'];
}

/** The provider named `config.provider` (local when unset). */
export function createSandboxProvider(config: { provider?: SandboxProviderName }, deps: ProviderDeps): SandboxProvider {
  const provider = config.provider ?? 'local';
  switch (provider) {
    case 'local':
      return createLocalProvider({
        root: deps.localRoot,
        defaultExecTimeoutMs: SANDBOX_TIMEOUT_MS,
        defaultDiskMb: DEFAULT_DISK_MB,
      });
    case 'e2b': {
      const e2b = deps.e2b;
      const apiKey = e2b?.apiKey;
      if (!apiKey)
        throw new SandboxConfigError(
          'sandbox provider "e2b" needs E2B_API_KEY in the worker environment (or choose provider "local")',
        );
      return createE2BProvider({
        apiKey,
        apiUrl: e2b.apiUrl,
        domain: e2b.domain,
        sandboxUrl: e2b.sandboxUrl,
        template: e2b.template,
        timeoutMs: SANDBOX_TIMEOUT_MS,
        defaultExecTimeoutMs: SANDBOX_TIMEOUT_MS,
      });
    }
    case 'docker':
      return createDockerProvider({ defaultExecTimeoutMs: SANDBOX_TIMEOUT_MS });
    default:
      throw new SandboxConfigError(`unknown sandbox provider "${String(provider)}"`);
  }
}
