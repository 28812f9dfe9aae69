/**
 * The follow-up task's last delivery step: instead of opening a PR, it tells the PR it
 * continued what it did, in one comment carrying FOLLOW_UP_MARKER (so the next follow-up
 * does not read it as feedback) and the task's workflow ID (so a retry finds the comment it
 * already wrote instead of writing a second).
 */
import { ApplicationFailure } from '@temporalio/common';
import type { NightshiftConfig } from '../../common/config';
import { escapeMarkdownLine, quoteAgentText } from '../../common/markdown';
import { workerRedactor } from '../../common/redact';
import type { ChecksOutcome } from '../../contract';
import type { GitHubClient } from '../task/delivery/pull-request';
import { whileBeating } from '../heartbeat';
import { FOLLOW_UP_MARKER } from './feedback';
import { PullRequestFailed } from '../../common/errors';

export interface FollowUpReport {
  workflowId: string;
  githubRepo: string;
  prNumber: number;
  commit: string;
  feedbackCount: number;
  status: string;
  summary?: string;
  checks?: ChecksOutcome;
}

export function followUpComment(r: FollowUpReport): string {
  const checks = r.checks
    ? r.checks.results.map(
        (c) =>
          `- \`${c.command.replace(/`/g, "'")}\`: ${c.flaky ? 'flaky' : c.passed ? 'passed' : c.preExisting ? 'failed, also on the base' : `failed (exit ${c.exitCode})`}`,
      )
    : ['- no checks are configured for this task'];
  return [
    `${FOLLOW_UP_MARKER} ${escapeMarkdownLine(r.workflowId).replace(/--/g, '- -')} -->`,
    `nightshift pushed ${r.commit.slice(0, 12)} to this branch to address ${r.feedbackCount} item${r.feedbackCount === 1 ? '' : 's'} of review and CI feedback (task status: ${escapeMarkdownLine(r.status)}).`,
    '',
    '**Checks on the pushed commit:**',
    ...checks,
    ...(r.summary
      ? ['', "**The agent's summary** (its own words, not verified):", '', quoteAgentText(r.summary.slice(0, 6000))]
      : []),
  ].join('\n');
}

export function createFollowUpActivities(deps: {
  config: Pick<NightshiftConfig, 'github'>;
  client: () => Promise<GitHubClient>;
}) {
  return {
    /** Comments on the followed PR once per task workflow: `{ url }` of the comment. */
    async reportFollowUp(input: FollowUpReport): Promise<{ url: string }> {
      const [owner, repo] = input.githubRepo.split('/');
      if (!deps.config.github.token)
        throw ApplicationFailure.nonRetryable(
          'no GITHUB_TOKEN in the worker environment to comment on the pull request with',
          PullRequestFailed.name,
        );
      const body = workerRedactor(deps.config).redact(followUpComment(input)).text;
      const mark = `${FOLLOW_UP_MARKER} ${escapeMarkdownLine(input.workflowId).replace(/--/g, '- -')} -->`;
      return whileBeating(async () => {
        const gh = await deps.client();
        const comments = (await gh.paginate(gh.rest.issues.listComments, {
          owner,
          repo,
          issue_number: input.prNumber,
          per_page: 100,
        })) as { body?: string; html_url: string }[];
        const earlier = comments.find((c) => c.body?.split('\n')[0] === mark);
        if (earlier) return { url: earlier.html_url };
        const { data } = await gh.rest.issues.createComment({ owner, repo, issue_number: input.prNumber, body });
        return { url: data.html_url };
      });
    },
  };
}
