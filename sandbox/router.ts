/**
 * Every provider a worker can use, behind one SandboxProvider. A task chooses its provider
 * in the task file (`sandbox.provider`); the workflow keeps only the sandbox id, so the id
 * itself names the provider: `e2b:<id>`, `docker:<id>`, and bare ids for `local` (whose
 * sandboxes the workspace helpers and the safety policy reach as host directories).
 *
 * Providers are built on first use: a worker without E2B_API_KEY runs local tasks fine
 * and fails only the tasks that ask for e2b, with a message that says what is missing.
 */
import { SandboxGone } from '../common/errors';
import type { CreateSandboxOptions, Sandbox, SandboxProvider, SandboxProviderName } from './types';

export interface SandboxRouter extends SandboxProvider {
  /** Creates (idempotently, by key) on the named provider. `create` uses `local`. */
  createOn(provider: SandboxProviderName, o: CreateSandboxOptions): Promise<Sandbox>;
  /** Kills whatever sandbox an earlier create with `o.key` left on the named provider, so the next create starts fresh. */
  discardOn(provider: SandboxProviderName, o: CreateSandboxOptions): Promise<void>;
}

export type ProviderSource = SandboxProvider | (() => SandboxProvider);

const PREFIXED = /^(e2b|docker):(.+)$/s;

export function routeSandboxes(
  sources: { local: ProviderSource } & Partial<Record<SandboxProviderName, ProviderSource>>,
): SandboxRouter {
  const built = new Map<SandboxProviderName, SandboxProvider>();
  const provider = (name: SandboxProviderName): SandboxProvider => {
    let p = built.get(name);
    if (!p) {
      const source = sources[name];
      if (!source) throw new SandboxGone(`this worker has no "${name}" sandbox provider`);
      p = typeof source === 'function' ? source() : source;
      built.set(name, p);
    }
    return p;
  };
  const named = (name: SandboxProviderName, s: Sandbox): Sandbox =>
    name === 'local' ? s : withId(`${name}:${s.id}`, s);

  return {
    async createOn(name, o) {
      return named(name, await provider(name).create(o));
    },
    async discardOn(name, o) {
      const p = provider(name);
      // A provider that cannot look a sandbox up by key finds it by creating it (idempotent by key).
      if (p.discard) await p.discard(o.key);
      else await (await p.create(o)).kill().catch(() => false);
    },
    async create(o) {
      return provider('local').create(o);
    },
    async connect(id) {
      const m = PREFIXED.exec(id);
      if (!m) return provider('local').connect(id);
      const name = m[1] as SandboxProviderName;
      return named(name, await provider(name).connect(m[2]));
    },
  };
}

/** The same sandbox under the id the workflow stores. */
function withId(id: string, s: Sandbox): Sandbox {
  return {
    id,
    workdir: s.workdir,
    exec: (cmd, o) => s.exec(cmd, o),
    readFile: (p, o) => s.readFile(p, o),
    writeFile: (p, d) => s.writeFile(p, d),
    list: (p, o) => s.list(p, o),
    kill: () => s.kill(),
  };
}
