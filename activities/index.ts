/**
 * All activities, built over their dependencies so tests can pass real clients pointed at
 * loopback servers. Workflows import only the type `Activities`.
 */
import * as path from 'node:path';
import type Anthropic from '@anthropic-ai/sdk';
import { stateDir, type NightshiftConfig } from '../common/config';
import { createSandboxProvider } from '../sandbox';
import type { SafetyPolicy } from '../sandbox/policy';
import type { SandboxProvider } from '../sandbox/types';
import { createAgentActivities } from './agent';
import { createCommandActivities } from './command';
import { createFolderActivities } from './folders';
import { createAnthropicClient } from './model/client';
import { createModelActivities } from './model/call-model';
import { createReportActivities } from './report';
import { createSimpleActivities } from './simple';
import { createSpecActivities } from './spec';
import { FileTranscriptStore, transcriptsDir, type TranscriptStore } from './transcripts';

export interface ActivityDeps {
  config: NightshiftConfig;
  /**
   * The Messages API client.
   * @default built from config.anthropic (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL) with maxRetries 1; none when neither is set
   */
  anthropic?: Anthropic;
  /** @default the local provider under `<root>/.nightshift/sandboxes` */
  sandboxes?: SandboxProvider;
  /** @default files under `<root>/.nightshift/transcripts` */
  transcripts?: TranscriptStore;
  /** @default DEFAULT_SAFETY_POLICY */
  safetyPolicy?: SafetyPolicy;
}

export function createActivities(deps: ActivityDeps) {
  const transcripts = deps.transcripts ?? new FileTranscriptStore({ dir: transcriptsDir(deps.config) });
  const sandboxes = deps.sandboxes ?? createSandboxProvider({ provider: 'local' }, { localRoot: path.join(stateDir(deps.config), 'sandboxes') });
  const anthropic = 'anthropic' in deps ? deps.anthropic : createAnthropicClient(deps.config);
  return {
    ...createSpecActivities(deps.config),
    ...createFolderActivities(deps.config),
    ...createReportActivities(deps.config),
    ...createCommandActivities(deps.config),
    ...createModelActivities({ anthropic, transcripts }),
    ...createAgentActivities({ config: deps.config, sandboxes, transcripts, safetyPolicy: deps.safetyPolicy }),
    ...createSimpleActivities({ anthropic, sandboxes, transcripts }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
