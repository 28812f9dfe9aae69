/**
 * All activities, built over their dependencies so tests can pass real clients pointed at
 * loopback servers. Workflows import only the type `Activities`.
 */
import * as path from 'node:path';
import type Anthropic from '@anthropic-ai/sdk';
import { Client, Connection } from '@temporalio/client';
import { stateDir, type NightshiftConfig } from '../common/config';
import { createSandboxProvider, routeSandboxes } from '../sandbox';
import type { SafetyPolicy } from '../sandbox/policy';
import type { SandboxProvider } from '../sandbox/types';
import { createAgentActivities } from './task/sandbox-steps';
import { createBatchResultActivities } from './night/results';
import { createBudgetActivities } from './budget/requests';
import { createCommandActivities } from './task/command';
import { createDeliveryActivities } from './task/delivery';
import type { GitHubClient, GitHubClientOptions } from './task/delivery/pull-request';
import { createFolderActivities } from './intake/folders';
import { createAnthropicClient } from './model/client';
import { createModelActivities } from './model/call-model';
import { createLearningActivities } from './learning';
import { createPlanningActivities } from './planning';
import { createNotifyActivities, type NotifyDeps } from './notify';
import { createQuestionActivities } from './questions/ask-human';
import { createReportActivities } from './night/report';
import { createReviewActivities } from './task/delivery/review-cost';
import { createSimpleActivities } from './task/simple';
import { TelegramQuestionIndex } from './questions/telegram-index';
import { createSpecActivities } from './night/spec';
import { createFollowUpNightActivities } from './followup/night';
import { createGitHubClient } from './task/delivery/pull-request';
import { fileStoreFor, type StateStore } from '../common/store';
import { transcriptsIn, type TranscriptStore } from './task/transcripts';

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
  /**
   * Where state that must outlive this host lives (NIGHTSHIFT_STORE). Required when that is
   * postgres (createNightshiftWorker opens it). @default files under `<root>/.nightshift`
   */
  store?: StateStore;
  /** @default the `transcripts` records of `store` */
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
  /** @default an Octokit built from config.github (GITHUB_TOKEN, GITHUB_API_URL) on first use */
  github?: GitHubClient;
  /** Tuning of that Octokit (tests shorten its retry waits). */
  githubOptions?: GitHubClientOptions;
  /**
   * The worker-specific queue a Worker of this process polls (common/task-queues.ts). When
   * set, creating a local sandbox returns it and the workflow sends that sandbox's
   * activities there. @default none: every activity stays on the shared queue
   */
  hostTaskQueue?: string;
}

/** The directory holding this worker's local sandboxes. */
export function localSandboxRoot(config: Pick<NightshiftConfig, 'root'>): string {
  return path.join(stateDir(config), 'sandboxes');
}

export function createActivities(deps: ActivityDeps) {
  const store = deps.store ?? fileStoreOrThrow(deps.config);
  const transcripts = deps.transcripts ?? transcriptsIn(store);
  const localRoot = localSandboxRoot(deps.config);
  const sandboxes = routeSandboxes({
    local: deps.sandboxes ?? createSandboxProvider({ provider: 'local' }, { localRoot }),
    e2b:
      deps.otherSandboxes?.e2b ??
      (() => createSandboxProvider({ provider: 'e2b' }, { localRoot, e2b: deps.config.e2b })),
    docker: deps.otherSandboxes?.docker ?? (() => createSandboxProvider({ provider: 'docker' }, { localRoot })),
  });
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
  const specActivities = createSpecActivities(deps.config, store);
  let octokit: Promise<GitHubClient> | undefined;
  const github = () =>
    (octokit ??= deps.github
      ? Promise.resolve(deps.github)
      : createGitHubClient(deps.config.github, deps.githubOptions));
  const agent = createAgentActivities({
    config: deps.config,
    sandboxes,
    transcripts,
    store,
    safetyPolicy: deps.safetyPolicy,
    hostTaskQueue: deps.hostTaskQueue,
  });
  return {
    ...createBudgetActivities({ temporalClient }),
    ...createNotifyActivities({
      env: deps.config.notify,
      store: transcripts,
      telegramIndex: new TelegramQuestionIndex(store),
      ...deps.notify,
    }),
    ...createQuestionActivities({ config: deps.config, transcripts }),
    ...specActivities,
    ...createFollowUpNightActivities({
      config: deps.config,
      store,
      loadSpec: specActivities.loadBatchSpec,
      client: github,
    }),
    ...createFolderActivities(deps.config),
    ...createReportActivities(deps.config, store),
    ...createBatchResultActivities(store),
    ...createCommandActivities({
      config: deps.config,
      sandboxes,
      safetyPolicy: deps.safetyPolicy,
      keepWork: agent.keepWork,
    }),
    ...createModelActivities({ anthropic, transcripts }),
    ...agent,
    ...createPlanningActivities({ config: deps.config, anthropic, store }),
    ...createLearningActivities({ anthropic, transcripts, store }),
    ...createDeliveryActivities({
      config: deps.config,
      sandboxes,
      transcripts,
      github: deps.github,
      githubOptions: deps.githubOptions,
    }),
    ...createSimpleActivities({ anthropic, sandboxes, transcripts }),
    ...createReviewActivities({ config: deps.config }),
  };
}

function fileStoreOrThrow(config: NightshiftConfig): StateStore {
  // Opening postgres is asynchronous (it migrates the schema): the caller does it and passes the store.
  if (config.store.kind !== 'file')
    throw new Error('NIGHTSHIFT_STORE is postgres: open it with openStateStore and pass it as deps.store');
  return fileStoreFor(config);
}

export type Activities = ReturnType<typeof createActivities>;
