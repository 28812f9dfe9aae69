/** Shared pieces of the delivery tests: a remote, a model that writes files, a worker wired to both fakes. */
import { execFileSync } from 'node:child_process';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { NightshiftConfig } from '../../common/config';
import type { PullRequestSettings } from '../../taskfile/types';
import type { MessagesReply, MessagesRequest } from '../../demo/messages-server';
import { message, text, toolUse } from '../fakes/anthropic-server';
import { makeRepo } from '../sandbox/helpers';
import { testConfig, testWorker } from '../helpers/temporal';
import { withModel } from '../agent/helpers';

export const GITHUB_REPO = 'acme/widgets';

export const prSettings = (o: Partial<PullRequestSettings> = {}): PullRequestSettings => ({
  repo: GITHUB_REPO,
  labels: ['nightshift'],
  reviewers: ['alice'],
  draft: false,
  target: 'stacked',
  ...o,
});

/** A bare repository with `main` (README.md, CLAUDE.md): the task's remote. */
export function remote(): string {
  return makeRepo().bare;
}

/** Git on a test's own repository, with an identity of its own: a fresh machine has no global one. */
export function git(gitDir: string, ...args: string[]): string {
  return execFileSync(
    'git',
    ['-c', 'user.name=test', '-c', 'user.email=test@localhost', '--git-dir', gitDir, ...args],
    { encoding: 'utf8' },
  ).trim();
}

/** The task a model request belongs to, read from the first message ("Start on task <id>: ..."). */
export function taskOf(req: MessagesRequest): string {
  const first = req.body.messages?.[0]?.content as { text?: string }[] | string | undefined;
  const t = typeof first === 'string' ? first : (first?.[0]?.text ?? '');
  return /Start on task (\S+):/.exec(t)?.[1] ?? '?';
}

/** One turn that writes files, then a turn that finishes. */
export function writesThenFinishes(
  files: Record<string, string>,
  turn: number,
  summary = 'wrote the files',
): MessagesReply {
  if (turn === 1)
    return message(
      Object.entries(files).map(([p, content], i) => toolUse(`tu_w${i}`, 'write_file', { path: p, content })),
    );
  return message([
    text('Done.'),
    toolUse(`tu_fin_${turn}`, 'finish', { summary, verification: 'read the files back' }),
  ]);
}

export function deliveryConfig(env: TestWorkflowEnvironment, modelUrl: string, githubUrl: string): NightshiftConfig {
  return { ...withModel(testConfig(env), modelUrl), github: { token: 'ghs_test', apiUrl: githubUrl } };
}

export function deliveryWorker(env: TestWorkflowEnvironment, config: NightshiftConfig) {
  return testWorker(env, config, { deps: { githubOptions: { retryBaseMs: 20 } } });
}
