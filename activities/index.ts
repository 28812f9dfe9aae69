/**
 * All activities, built over their dependencies so tests can pass real clients pointed at
 * loopback servers. Workflows import only the type `Activities`.
 */
import * as path from 'node:path';
import type Anthropic from '@anthropic-ai/sdk';
import { stateDir, type NightshiftConfig } from '../common/config';
import { createSandboxProvider, routeSandboxes } from '../sandbox';
import type { SafetyPolicy } from '../sandbox/policy';
import type { SandboxProvider } from '../sandbox/types';
import { createAgentActivities } from './agent';
import { createCommandActivities } from './command';
import { createAnthropicClient } from './model/client';
import { createModelActivities } from './model/call-model';
import { createLearningActivities } from './learning';
import { createPlanningActivities } from './planning';
import { createReportActivities } from './report';
import { createSpecActivities } from './spec';
import { FileTranscriptStore, transcriptsDir, type TranscriptStore } from './transcripts';

export interface ActivityDeps {
  config: NightshiftConfig;
  /**
   * The Messages API client.
   * @default built from config.anthropic (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL) with maxRetries 1; none when neither is set
   */
  anthropic?: Anthropic;
  /** The `local` provider. @default local sandboxes under `<root>/.nightshift/sandboxes` */
  sandboxes?: SandboxProvider;
  /** Other providers tasks may choose. @default e2b (needs E2B_API_KEY) and docker, built from config on first use */
  otherSandboxes?: Partial<Record<'e2b' | 'docker', SandboxProvider>>;
  /** @default files under `<root>/.nightshift/transcripts` */
  transcripts?: TranscriptStore;
  /** @default DEFAULT_SAFETY_POLICY */
  safetyPolicy?: SafetyPolicy;
}

export function createActivities(deps: ActivityDeps) {
  const transcripts = deps.transcripts ?? new FileTranscriptStore({ dir: transcriptsDir(deps.config) });
  const localRoot = path.join(stateDir(deps.config), 'sandboxes');
  const sandboxes = routeSandboxes({
    local: deps.sandboxes ?? createSandboxProvider({ provider: 'local' }, { localRoot }),
    e2b: deps.otherSandboxes?.e2b ?? (() => createSandboxProvider({ provider: 'e2b' }, { localRoot, e2b: deps.config.e2b })),
    docker: deps.otherSandboxes?.docker ?? (() => createSandboxProvider({ provider: 'docker' }, { localRoot })),
  });
  const anthropic = 'anthropic' in deps ? deps.anthropic : createAnthropicClient(deps.config);
  return {
    ...createSpecActivities(deps.config),
    ...createReportActivities(deps.config),
    ...createCommandActivities(deps.config),
    ...createModelActivities({ anthropic, transcripts }),
    ...createAgentActivities({ config: deps.config, sandboxes, transcripts, safetyPolicy: deps.safetyPolicy }),
    ...createPlanningActivities({ config: deps.config, anthropic }),
    ...createLearningActivities({ config: deps.config, anthropic, transcripts }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
