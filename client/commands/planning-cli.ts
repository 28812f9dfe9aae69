/** Registers `plan` and `estimate` on the CLI (kept here so client/cli.ts changes by a line). */
import * as path from 'node:path';
import type { Command } from 'commander';
import type { NightshiftConfig } from '../../common/config';
import type { ImproveInput, ImproveResult } from '../../contract';
import { CliError, EXIT } from '../errors';
import { localDate } from '../format';
import { load } from '../lazy';
import type { PlanOptions } from './plan';

type Print = (s: string) => void;

export function registerPlanningCommands(program: Command, config: NightshiftConfig, print: Print, info: Print): void {
  const interactiveIo = () => ({
    input: process.stdin,
    output: process.stdout,
    // Session files are relative to the root; startBatch resolves against the working directory.
    start: async (file: string, date: string) =>
      (
        await load
          .batch()
          .startBatch(await load.temporal().connectClient(config), config, path.join(config.root, file), { date })
      ).batchId,
  });
  const plan = program
    .command('plan')
    .description(
      'decompose a goal or a PRD into tasks/<date>.yaml (+ .plan.md); in a terminal, edit, approve and start it',
    )
    .argument('[goal]', 'what the night should achieve, e.g. "Build a REST API with authentication"')
    .option('--prd <file>', 'plan from a PRD (markdown) instead of a goal')
    .option('--date <YYYY-MM-DD>', "the night's date (default: today)")
    .option('--budget <usd>', 'max_cost_usd of the planned night (default 50)', Number)
    .option('--repo <repo>', 'repository (URL or local path) every task works on')
    .option('--model <model>', 'planning model (default sonnet)')
    .option('--out <file>', 'task file to write (default tasks/<date>.yaml)')
    .option('--force', 'replace a task file nightshift did not write')
    .option('--heuristic', 'plan without a model')
    .option('--no-interactive', 'write the plan and exit, even in a terminal')
    .option('--json', 'print the session as JSON (never interactive)')
    .action(async (goal: string | undefined, o: PlanOptions & { interactive: boolean; json?: boolean }) => {
      const r = await load.plan().planCommand(config, goal, o);
      for (const n of r.notes) info(`note: ${n}`);
      if (o.json) return print(JSON.stringify(r.session, null, 2));
      if (!o.interactive || !process.stdin.isTTY || !process.stdout.isTTY) {
        print(r.text);
        print(`edit it with: nightshift plan continue ${r.session.id}`);
        return;
      }
      await load.plan().runPlanningRepl(config, r.session, interactiveIo());
    });
  // Commander gives `plan list --json` to plan, whose own --json it also knows (program options are not positional).
  const asJson = () => (plan.opts() as { json?: boolean }).json === true;
  plan
    .command('list')
    .description('planning sessions, newest first')
    .option('--json', 'print the sessions as JSON')
    .action(async (o: { json?: boolean }) => {
      const r = await load.plan().listCommand(config);
      print(o.json || asJson() ? JSON.stringify(r.sessions, null, 2) : r.text);
    });
  plan
    .command('continue')
    .description('resume a planning session: edit, approve, start')
    .argument('<id>', 'session ID from plan list')
    .option('--json', 'print the session as JSON instead of resuming it')
    .action(async (id: string, o: { json?: boolean }) => {
      const s = await load.plan().continueSession(config, id);
      if (o.json || asJson()) return print(JSON.stringify(s, null, 2));
      if (!process.stdin.isTTY) info(`reading commands from standard input for ${load.plan().describeSession(s)}`);
      await load.plan().runPlanningRepl(config, s, interactiveIo());
    });

  program
    .command('estimate')
    .description(
      'predicted cost and duration per task and for the night, from results/*.json history; says whether it fits max_cost_usd',
    )
    .argument('<file>', 'task file or directory')
    .option('--json', 'print the estimate as JSON')
    .action(async (file: string, o: { json?: boolean }) => {
      const e = await load.estimate().estimateCommand(config, file);
      print(o.json ? JSON.stringify(e, null, 2) : load.estimate().renderEstimate(e));
      if (!e.fits) process.exitCode = EXIT.failure;
    });

  program
    .command('improve')
    .description(
      'improvement loops: per loop a research agent, its findings planned into at most 5 tasks, a batch, a loop summary',
    )
    .requiredOption('--repo <repo>', 'repository to improve (URL, or a path inside NIGHTSHIFT_ROOT)')
    .option('--loops <n>', 'how many loops', (v) => Number.parseInt(v, 10), 1)
    .option('--date <YYYY-MM-DD>', 'date of the task files and results (default: today)')
    .option('--budget <usd>', "max_cost_usd of each loop's batch (default 50)", Number)
    .option('--model <model>', 'model for research and planning')
    .option('--workflow-id <id>', 'workflow ID (default: nightshift-improve-<date>)')
    .option('--wait', 'wait for the loops to end and print what each did')
    .option('--json', 'print machine-readable output')
    .action(
      async (o: {
        repo: string;
        loops: number;
        date?: string;
        budget?: number;
        model?: string;
        workflowId?: string;
        wait?: boolean;
        json?: boolean;
      }) => {
        if (!Number.isInteger(o.loops) || o.loops < 1)
          throw new CliError('--loops must be a whole number of at least 1', EXIT.usage);
        const date = o.date ?? localDate();
        const input: ImproveInput = { repo: o.repo, loops: o.loops, date, maxCostUsdPerLoop: o.budget, model: o.model };
        const workflowId = o.workflowId ?? load.contract().improveWorkflowId(date);
        const client = await load.temporal().connectClient(config);
        if (o.wait) await load.workers().requireWorker(client);
        const handle = await client.workflow.start(load.contract().IMPROVE_WORKFLOW, {
          taskQueue: load.contract().TASK_QUEUE,
          workflowId,
          args: [input],
          staticSummary: `improve ${o.repo}: ${o.loops} loops`,
        });
        if (!o.wait)
          return print(
            o.json
              ? JSON.stringify({ workflowId, runId: handle.firstExecutionRunId })
              : `started ${workflowId} (${o.loops} loops on ${o.repo}); loop summaries are kept in the state store (.nightshift/improve/ with the file store)`,
          );
        const r = (await handle.result()) as ImproveResult;
        if (o.json) return print(JSON.stringify(r, null, 2));
        for (const l of r.loops)
          print(
            `loop ${l.loop}: research ${l.research.status}${l.batchId ? `, batch ${l.batchId}: ${l.tasks.map((t) => `${t.taskId} ${t.status}`).join(', ')}` : ''}`,
          );
        print(`cost $${r.costUsd.toFixed(2)}${r.summary ? `\n\n${r.summary}` : ''}`);
      },
    );
}
