/**
 * Acceptance checks: after the agent calls `finish`, the orchestrator (not the agent) runs
 * the task's `checks:` commands in the sandbox. When one fails and a fix round is left, the
 * failing output becomes the result of the agent's `finish` call, which the next model
 * call reads, so the agent sees exactly why it is not done yet.
 *
 * Keyed by (workflow ID, turn of the finish call): a retried activity returns the stored
 * result instead of running the checks again.
 */
import { Context } from '@temporalio/activity';
import type { NightshiftConfig } from '../../common/config';
import { LocalSandbox } from '../../sandbox/local';
import type { SandboxProvider } from '../../sandbox/types';
import type { CheckResult } from '../../workflows/contract';
import { whileBeating } from '../heartbeat';
import { workTreeOf } from './sandbox-commit';
import { truncateMiddle } from '../tools/truncate';
import { checkpointStoreFor } from '../agent';
import { getJson, keys, putJson, type ToolRecord, type TranscriptStore } from '../transcripts';

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
}

export interface ChecksRound {
  passed: boolean;
  results: CheckResult[];
  /** The workspace tree the checks ran on, read before they started; delivery commits exactly this tree. */
  tree?: string;
}

const TAIL_FOR_REPORT = 600;
const OUTPUT_FOR_AGENT = 12_000;

const checksKey = (turn: number) => `turn-${String(turn).padStart(6, '0')}.checks.json`;

export function createChecksActivities(deps: { config: Pick<NightshiftConfig, 'root'>; sandboxes: SandboxProvider; transcripts: TranscriptStore }) {
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
      for (const command of input.checks) {
        const r = await whileBeating(
          () => sandbox.exec(command, { timeoutMs: input.timeoutMs ?? 30 * 60_000, signal: ctx.cancellationSignal }),
          () => ({ check: command }),
        );
        const output = [r.stdout, r.stderr].filter((s) => s.trim()).join('\n');
        const passed = r.exitCode === 0 && !r.timedOut;
        results.push({ command, exitCode: r.exitCode, passed, ...(r.timedOut ? { timedOut: true } : {}), outputTail: output.slice(-TAIL_FOR_REPORT) });
        if (!passed) outputs.push(`$ ${command}\nexit code: ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}\n${truncateMiddle(output, OUTPUT_FOR_AGENT)}`);
      }
      const round: ChecksRound = { passed: results.every((r) => r.passed), results, tree };
      if (!round.passed && input.feedback) {
        const content =
          `Not finished yet: the acceptance checks failed.\n\n${outputs.join('\n\n')}\n\n` +
          'Fix the cause (not the checks), run the failing commands yourself to confirm, then call finish again.';
        const rec: ToolRecord = { toolUseId: input.finishToolUseId, name: 'finish', isError: true, content, summary: `checks failed: ${results.filter((r) => !r.passed).map((r) => r.command).join(', ')}` };
        await putJson(store, input.workflowId, keys.tool(input.turn, input.finishToolUseId), rec);
      }
      await putJson(store, input.workflowId, checksKey(input.turn), round);
      return round;
    },
  };
}
