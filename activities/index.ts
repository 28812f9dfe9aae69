/**
 * All activities, built over their dependencies so tests can pass real clients pointed at
 * loopback servers. Workflows import only the type `Activities`.
 */
import * as path from 'node:path';
import type Anthropic from '@anthropic-ai/sdk';
import { Client, Connection } from '@temporalio/client';
import { stateDir, type NightshiftConfig } from '../common/config';
import { createSandboxProvider } from '../sandbox';
import type { SafetyPolicy } from '../sandbox/policy';
import type { SandboxProvider } from '../sandbox/types';
import { createAgentActivities } from './agent';
import { createBudgetActivities } from './budget';
import { createCommandActivities } from './command';
import { createAnthropicClient } from './model/client';
import { createModelActivities } from './model/call-model';
import { createNotifyActivities, type NotifyDeps } from './notify';
import { createQuestionActivities } from './questions';
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
  /** @default the local provider under `<root>/.nightshift/sandboxes` */
  sandboxes?: SandboxProvider;
  /** @default files under `<root>/.nightshift/transcripts` */
  transcripts?: TranscriptStore;
  /** @default DEFAULT_SAFETY_POLICY */
  safetyPolicy?: SafetyPolicy;
  /**
   * For activities that talk to other workflows (a task's budget request to its batch).
   * @default a client connected with config.temporal on first use
   */
  temporalClient?: Client;
  /** Retry tuning of notification channels (tests shorten the backoff). */
  notify?: Partial<Pick<NotifyDeps, 'attempts' | 'backoffMs' | 'requestTimeoutMs'>>;
}

export function createActivities(deps: ActivityDeps) {
  const transcripts = deps.transcripts ?? new FileTranscriptStore({ dir: transcriptsDir(deps.config) });
  const sandboxes = deps.sandboxes ?? createSandboxProvider({ provider: 'local' }, { localRoot: path.join(stateDir(deps.config), 'sandboxes') });
  const anthropic = 'anthropic' in deps ? deps.anthropic : createAnthropicClient(deps.config);
  let client: Promise<Client> | undefined = deps.temporalClient ? Promise.resolve(deps.temporalClient) : undefined;
  const temporalClient = () =>
    (client ??= Connection.connect(deps.config.temporal.connection as Parameters<typeof Connection.connect>[0]).then(
      (connection) => new Client({ connection, namespace: deps.config.temporal.namespace }),
      (err: unknown) => {
        client = undefined; // the next attempt connects again
        throw err;
      },
    ));
  return {
    ...createBudgetActivities({ temporalClient }),
    ...createNotifyActivities({ env: deps.config.notify, store: transcripts, ...deps.notify }),
    ...createQuestionActivities({ config: deps.config, transcripts }),
    ...createSpecActivities(deps.config),
    ...createReportActivities(deps.config),
    ...createCommandActivities(deps.config),
    ...createModelActivities({ anthropic, transcripts }),
    ...createAgentActivities({ config: deps.config, sandboxes, transcripts, safetyPolicy: deps.safetyPolicy }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
