/**
 * Acceptance checks: after the agent calls `finish`, the orchestrator (not the agent) runs
 * the task's `checks:` commands in the sandbox. When one fails and a fix round is left, the
 * failing output becomes the result of the agent's `finish` call, which the next model
 * call reads, so the agent sees exactly why it is not done yet.
 *
 * Keyed by (workflow ID, turn of the finish call): a retried activity returns the stored
 * result instead of running the checks again.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Context } from '@temporalio/activity';
import type { NightshiftConfig } from '../../../common/config';
import { LocalSandbox } from '../../../sandbox/local';
import type { Sandbox, SandboxProvider } from '../../../sandbox/types';
import { git, workerMadeGit } from '../../../sandbox/workspace';
import type { CheckResult, IntegrityFinding } from '../../../contract';
import { whileBeating } from '../../heartbeat';
import { workTreeOf } from './sandbox-commit';
import { truncateMiddle } from '../tools/truncate';
import { checkpointStoreFor } from '../sandbox-steps';
import { getJson, keys, putJson, type ToolRecord, type TranscriptStore } from '../transcripts';
import { readBaseline, runWithRerun } from './baseline';
import { countTests, integrityFindings, isTestFile, type DiffFile } from './test-integrity';

export interface RunChecksInput {
  workflowId: string;
  sandboxId: string;
  /** The turn whose response called finish. */
  turn: number;
  finishToolUseId: string;
  checks: string[];
  /** True when the agent gets another round if a check fails: then the failure is fed back. */
  feedback: boolean;
  /** Per check. @default 30 minutes */
  timeoutMs?: number;
  /** True when signs of weakened tests are fed back to the agent (its one round for them). */
  integrityFeedback?: boolean;
}

export interface ChecksRound {
  passed: boolean;
  results: CheckResult[];
  /** The workspace tree the checks ran on, read before they started; delivery commits exactly this tree. */
  tree?: string;
  integrity?: IntegrityFinding[];
}

/**
 * The agent's change to its base as files added, deleted or changed (with their new size)
 * and the lines it added to test files. Read on the host from the worker's checkpoint
 * store, between the base commit and the tree the checks ran on: no git runs over the
 * agent's working tree, so no filter or config it planted runs, and nothing is written.
 */
async function diffFromBase(sandbox: Sandbox, tree: string | undefined, store: string): Promise<DiffFile[]> {
  if (
    !tree ||
    !(sandbox instanceof LocalSandbox) ||
    !existsSync(path.join(sandbox.workspaceDir, '.git')) ||
    !workerMadeGit(sandbox)
  )
    return [];
  // The workspace's .git is the worker's clone and read-only to the agent: its HEAD is the base.
  const base = await git([
    '--git-dir',
    path.join(sandbox.workspaceDir, '.git'),
    'rev-parse',
    '--verify',
    'HEAD^{commit}',
  ]);
  const parts = (
    await git(['--git-dir', store, 'diff-tree', '-r', '--no-renames', '--name-status', '-z', base, tree])
  ).split('\0');
  const files: DiffFile[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const st = parts[i].trim()[0];
    if (st === 'D' || st === 'M' || st === 'A') files.push({ path: parts[i + 1], status: st, added: [] });
  }
  const tests = files.filter((f) => isTestFile(f.path));
  if (tests.length === 0) return files;
  const patch = await git([
    '--git-dir',
    store,
    'diff',
    '--no-renames',
    '--no-color',
    '--no-ext-diff',
    '--no-textconv',
    '-U0',
    base,
    tree,
    '--',
    ...tests.map((f) => f.path),
  ]);
  let current: DiffFile | undefined;
  for (const line of patch.split('\n')) {
    const header = /^\+\+\+ b\/(.*)$/.exec(line);
    if (header) current = tests.find((f) => f.path === header[1]);
    else if (current && line.startsWith('+') && !line.startsWith('+++')) current.added.push(line.slice(1));
  }
  for (const f of tests.filter((t) => t.status === 'M')) {
    // Whitespace alone is as empty as nothing: count only what is not.
    const blob = await git(['--git-dir', store, 'cat-file', 'blob', `${tree}:${f.path}`]);
    f.newSize = blob.replace(/\s/g, '').length;
  }
  return files;
}

const TAIL_FOR_REPORT = 600;
const OUTPUT_FOR_AGENT = 12_000;

const checksKey = (turn: number) => `turn-${String(turn).padStart(6, '0')}.checks.json`;

export function createChecksActivities(deps: {
  config: Pick<NightshiftConfig, 'root'>;
  sandboxes: SandboxProvider;
  transcripts: TranscriptStore;
}) {
  const store = deps.transcripts;
  return {
    async runChecks(input: RunChecksInput): Promise<ChecksRound> {
      const done = await getJson<ChecksRound>(store, input.workflowId, checksKey(input.turn));
      if (done) return done;
      const sandbox = await deps.sandboxes.connect(input.sandboxId);
      const ctx = Context.current();
      const results: CheckResult[] = [];
      const outputs: string[] = [];
      // Read before any check runs: a check (the agent's own test code) may change the workspace.
      const tree = await whileBeating(
        () => workTreeOf(sandbox, checkpointStoreFor(deps.config)),
        () => ({ reading: 'workspace tree' }),
      ).catch((err: Error) => {
        // Another provider's workspace without a repository has no tree to read; the host's always has.
        if (sandbox instanceof LocalSandbox) throw err;
        ctx.log.warn('could not read the workspace tree before the checks', { error: err.message });
        return undefined;
      });
      const baseline = await readBaseline(store, input.workflowId);
      for (const command of input.checks) {
        // A failing check runs once more on the same tree: one that flips is flaky, not failed.
        const r = await whileBeating(
          () =>
            runWithRerun(
              (c) => sandbox.exec(c, { timeoutMs: input.timeoutMs ?? 30 * 60_000, signal: ctx.cancellationSignal }),
              command,
            ),
          () => ({ check: command }),
        );
        const base = baseline?.checks.find((b) => b.command === command);
        const tests = countTests(r.output);
        // Only a test runner's counts tell the base's failures from new ones: a plain command that
        // failed on the base may be the very check the task is meant to make pass.
        const preExisting =
          !r.passed &&
          base !== undefined &&
          !base.passed &&
          tests !== undefined &&
          base.tests !== undefined &&
          tests.failed > 0 &&
          tests.failed <= base.tests.failed;
        results.push({
          command,
          exitCode: r.exitCode,
          passed: r.passed,
          ...(r.timedOut ? { timedOut: true } : {}),
          outputTail: (r.flaky
            ? `${r.firstOutput ?? ''}\n--- rerun on the same tree passed ---\n${r.output}`
            : r.output
          ).slice(-TAIL_FOR_REPORT),
          ...(r.flaky ? { flaky: true } : {}),
          ...(base ? { base: base.passed ? (base.flaky ? 'flaky' : 'passed') : 'failed' } : {}),
          ...(preExisting ? { preExisting: true } : {}),
          ...(tests ? { tests } : {}),
          ...(base?.tests ? { baseTests: base.tests } : {}),
        } satisfies CheckResult);
        if (!r.passed && !preExisting)
          outputs.push(
            `$ ${command}\nexit code: ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}\n${truncateMiddle(r.output, OUTPUT_FOR_AGENT)}`,
          );
      }
      const integrity = integrityFindings(
        results.map((r) => ({ command: r.command, result: r.tests, base: r.baseTests })),
        await whileBeating(
          () => diffFromBase(sandbox, tree, checkpointStoreFor(deps.config)),
          () => ({ reading: 'the change to the tests' }),
        ).catch((err: Error) => {
          ctx.log.warn('could not read the change for the test-integrity guard', { error: err.message });
          return [];
        }),
      );
      const round: ChecksRound = {
        passed: results.every((r) => r.passed || r.preExisting),
        results,
        tree,
        ...(integrity.length ? { integrity } : {}),
      };
      const feedChecks = !round.passed && input.feedback;
      const feedIntegrity = integrity.length > 0 && input.integrityFeedback === true;
      if (feedChecks || feedIntegrity) {
        const parts = [
          ...(feedChecks ? [`Not finished yet: the acceptance checks failed.\n\n${outputs.join('\n\n')}`] : []),
          ...(feedIntegrity
            ? [
                `Not finished yet: the tests look weakened, not passed:\n${integrity.map((f) => `- ${f.detail}`).join('\n')}\n\nRestore the tests you removed, skipped or narrowed (unless the task asks for exactly that, then say so in finish). Work that still shows this is delivered as a draft marked for a person to review.`,
              ]
            : []),
        ];
        const content = `${parts.join('\n\n')}\n\nFix the cause (not the checks), run the failing commands yourself to confirm, then call finish again.`;
        const why = [
          ...(feedChecks
            ? [
                `checks failed: ${results
                  .filter((r) => !r.passed && !r.preExisting)
                  .map((r) => r.command)
                  .join(', ')}`,
              ]
            : []),
          ...(feedIntegrity ? ['tests weakened'] : []),
        ].join('; ');
        const rec: ToolRecord = {
          toolUseId: input.finishToolUseId,
          name: 'finish',
          isError: true,
          content,
          summary: why,
        };
        await putJson(store, input.workflowId, keys.tool(input.turn, input.finishToolUseId), rec);
      }
      await putJson(store, input.workflowId, checksKey(input.turn), round);
      return round;
    },
  };
}
