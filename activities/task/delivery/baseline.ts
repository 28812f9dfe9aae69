/**
 * Baseline checks: before the agent starts, the task's checks run once on the base it
 * starts from, in a sandbox of their own (the agent's workspace must not hold what a base
 * run leaves behind). Test failures the base already had are not the agent's failure
 * (activities/task/delivery/checks.ts tells them apart by the runner's counts); the agent is told of them in its
 * first message, and the PR and report show base against result.
 *
 * A night runs many tasks on one repository: the result per (repository, commit, command)
 * is cached for the night, so each check runs once per base.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Context } from '@temporalio/activity';
import { stateDir, type NightshiftConfig } from '../../../common/config';
import { repoLocation } from '../../../common/repo-location';
import type { SandboxProvider } from '../../../sandbox/types';
import { prepareWorkspace } from '../../../sandbox/workspace';
import type { TaskSpec } from '../../../taskfile/types';
import { workBranch } from '../../../workflows/branches';
import { whileBeating } from '../../heartbeat';
import { getJson, putJson, type TranscriptStore } from '../transcripts';
import { countTests, type TestCounts } from './test-integrity';

/** One check on the base. */
export interface BaseCheck {
  command: string;
  exitCode: number;
  passed: boolean;
  /** Failed once, passed on the rerun: the base's own flakiness. */
  flaky?: boolean;
  outputTail: string;
  /** What the test runner reported, when its output says. */
  tests?: TestCounts;
}

export interface Baseline {
  /** The base commit the checks ran on. */
  commit: string;
  checks: BaseCheck[];
}

/** Where a task's baseline is kept in the transcript store, for the prompt and the checks after finish. */
export const BASELINE_KEY = 'baseline-checks.json';

const TAIL = 600;

export function readBaseline(store: TranscriptStore, workflowId: string): Promise<Baseline | undefined> {
  return getJson<Baseline>(store, workflowId, BASELINE_KEY);
}

/**
 * The night's cache of base results. Kept behind get/put so it can move to another store
 * without touching its callers.
 */
export interface BaselineCache {
  get(key: { repo: string; commit: string; command: string }): Promise<BaseCheck | undefined>;
  put(key: { repo: string; commit: string; command: string }, value: BaseCheck): Promise<void>;
}

export function fileBaselineCache(config: Pick<NightshiftConfig, 'root'>, night: string): BaselineCache {
  const dir = path.join(stateDir(config), 'baseline-checks', night.replace(/[^A-Za-z0-9._-]/g, '_'));
  const file = (k: { repo: string; commit: string; command: string }) =>
    path.join(
      dir,
      `${createHash('sha256')
        .update(JSON.stringify([k.repo, k.commit, k.command]))
        .digest('hex')}.json`,
    );
  return {
    async get(k) {
      try {
        return JSON.parse(await fs.readFile(file(k), 'utf8')) as BaseCheck;
      } catch {
        return undefined;
      }
    },
    async put(k, value) {
      await fs.mkdir(dir, { recursive: true });
      // Written whole then renamed: a reader never sees half a record.
      const tmp = `${file(k)}.${process.pid}.tmp`;
      await fs.writeFile(tmp, JSON.stringify(value));
      await fs.rename(tmp, file(k));
    },
  };
}

/** Runs `command` and, when it fails, once more on the same tree: a check that flips is flaky. */
export async function runWithRerun(
  exec: (command: string) => Promise<{ exitCode: number; stdout: string; stderr: string; timedOut?: boolean }>,
  command: string,
): Promise<{
  exitCode: number;
  passed: boolean;
  timedOut?: boolean;
  flaky?: boolean;
  output: string;
  firstOutput?: string;
}> {
  const once = async () => {
    const r = await exec(command);
    return {
      exitCode: r.exitCode,
      passed: r.exitCode === 0 && !r.timedOut,
      timedOut: r.timedOut,
      output: [r.stdout, r.stderr].filter((s) => s.trim()).join('\n'),
    };
  };
  const first = await once();
  if (first.passed) return { exitCode: first.exitCode, passed: true, output: first.output };
  const again = await once();
  if (again.passed)
    return { exitCode: again.exitCode, passed: true, flaky: true, output: again.output, firstOutput: first.output };
  return {
    exitCode: again.exitCode,
    passed: false,
    ...(again.timedOut ? { timedOut: true } : {}),
    output: again.output,
  };
}

/** The first message's note on checks that already fail before the agent changes anything. */
export function baselineSection(b: Baseline | undefined): string {
  const failing = (b?.checks ?? []).filter((c) => !c.passed);
  if (failing.length === 0) return '';
  const line = (c: BaseCheck) =>
    c.tests
      ? `- \`${c.command}\` (exit ${c.exitCode}): ${c.tests.failed} of ${c.tests.total} tests fail there. Those failures are reported as pre-existing, not as yours; a test that newly fails is yours.`
      : `- \`${c.command}\` (exit ${c.exitCode}): it may be what your task is meant to make pass; it counts as failing until it passes.`;
  return `\n\nThese acceptance checks already fail on the base you start from (commit ${b!.commit.slice(0, 12)}), before any change of yours:\n${failing.map(line).join('\n')}`;
}

export function createBaselineActivities(deps: {
  config: Pick<NightshiftConfig, 'root'>;
  sandboxes: SandboxProvider;
  transcripts: TranscriptStore;
}) {
  return {
    /**
     * Clones the task's base into `sandboxId` (a sandbox of its own) and runs each check
     * there, or takes it from the night's cache. Stored under `workflowId`; a retry
     * returns the stored baseline.
     */
    async runBaselineChecks(input: {
      workflowId: string;
      sandboxId: string;
      task: TaskSpec;
      night: string;
      timeoutMs?: number;
    }): Promise<Baseline> {
      const done = await readBaseline(deps.transcripts, input.workflowId);
      if (done) return done;
      const { task } = input;
      if (!task.repo) return { commit: '', checks: [] };
      const ctx = Context.current();
      const sandbox = await deps.sandboxes.connect(input.sandboxId);
      const repo = repoLocation(deps.config.root, task.repo);
      const { head } = await whileBeating(() =>
        prepareWorkspace(sandbox, { repo, branch: workBranch(task), contextFiles: task.contextFiles }),
      );
      const cache = fileBaselineCache(deps.config, input.night);
      const checks: BaseCheck[] = [];
      for (const command of task.checks ?? []) {
        const key = { repo: task.repo, commit: head, command };
        const cached = await cache.get(key);
        if (cached) {
          checks.push(cached);
          continue;
        }
        const r = await whileBeating(
          () =>
            runWithRerun(
              (c) => sandbox.exec(c, { timeoutMs: input.timeoutMs ?? 30 * 60_000, signal: ctx.cancellationSignal }),
              command,
            ),
          () => ({ baseline: command }),
        );
        const tests = countTests(r.output);
        const check: BaseCheck = {
          command,
          exitCode: r.exitCode,
          passed: r.passed,
          ...(r.flaky ? { flaky: true } : {}),
          outputTail: r.output.slice(-TAIL),
          ...(tests ? { tests } : {}),
        };
        await cache.put(key, check);
        checks.push(check);
      }
      const baseline: Baseline = { commit: head, checks };
      await putJson(deps.transcripts, input.workflowId, BASELINE_KEY, baseline);
      return baseline;
    },
  };
}
