/**
 * `nightshift plan "goal"` / `plan --prd FILE`, `plan list`, `plan continue ID`, and
 * `start --decompose "goal"`. A plan is written to tasks/<date>.yaml (+ .plan.md) at once;
 * in a terminal an interactive session follows where the plan can be edited, approved
 * and started. Every edit is saved, so a session can be left and resumed.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { type NightshiftConfig } from '../../common/config';
import {
  batchIdFor,
  PLANNED_WORKFLOW,
  planWorkflowId as planWorkflowIdFor,
  TASK_QUEUE,
  type PlannedNightInput,
} from '../../contract';
import { createAnthropicClient } from '../../activities/model/client';
import { describeIssues, type PlanDraft } from '../../activities/planning/plan-tool';
import { defaultPlanFile, makePlan, savePlan } from '../../activities/planning/plan';
import { describePlanner, type PlanHeader } from '../../activities/planning/render';
import {
  addTask,
  EDITABLE_FIELDS,
  listSessions,
  loadSession,
  modifyTask,
  newSessionId,
  PlanEditError,
  PlanSessionChanged,
  removeTask,
  saveSession,
  splitTask,
  type PlanSession,
  type SessionPlace,
} from '../../activities/planning/session';
import { withStateStore } from '../../common/store';
import { CliError, EXIT, failureMessage } from '../errors';
import { didYouMeanSuffix } from '../../common/suggest';
import { localDate, table, usd } from '../format';

export interface PlanOptions {
  prd?: string;
  date?: string;
  budget?: number;
  repo?: string;
  model?: string;
  out?: string;
  force?: boolean;
  heuristic?: boolean;
}

async function readPrd(config: NightshiftConfig, file: string): Promise<{ name: string; text: string }> {
  const text = await fs.readFile(path.resolve(file), 'utf8').catch(() => undefined);
  if (text === undefined) throw new CliError(`cannot read ${file}`, EXIT.notFound);
  return { name: path.relative(config.root, path.resolve(file)) || file, text };
}

/** Plans, writes the files, and opens a saved session for them. */
export async function planCommand(
  config: NightshiftConfig,
  goal: string | undefined,
  o: PlanOptions,
): Promise<{ session: PlanSession; text: string; notes: string[] }> {
  if (!goal && !o.prd)
    throw new CliError('give a goal ("Build a REST API with authentication") or --prd FILE', EXIT.usage);
  const date = o.date ?? localDate();
  const document = o.prd ? await readPrd(config, o.prd) : undefined;
  const r = await makePlan(config.root, createAnthropicClient(config), {
    goal,
    document,
    date,
    maxCostUsd: o.budget,
    repo: o.repo,
    model: o.model,
    out: o.out,
    overwrite: o.force,
    heuristic: o.heuristic,
  });
  const notes: string[] = [];
  if (r.planner.kind === 'heuristic') notes.push(`planned heuristically: ${r.planner.reason}`);
  if (r.rejected)
    notes.push(`the model's first plan was invalid and was sent back once:\n${describeIssues(r.rejected)}`);
  const from = goal ?? document!.name;
  return withStateStore(config, async (store) => {
    const place = { root: config.root, store };
    const session = await saveSession(place, {
      id: await newSessionId(place, date, from),
      version: 0,
      createdAt: new Date().toISOString(),
      updatedAt: new Date().toISOString(),
      from,
      date,
      maxCostUsd: r.spec.maxCostUsd,
      out: r.files.yaml,
      repo: o.repo,
      planner: r.planner,
      draft: r.draft,
      state: 'draft',
      log: [`planned by ${describePlanner(r.planner)}`],
    });
    return {
      session,
      text: `${r.text}\n\nwrote ${r.files.yaml} and ${r.files.markdown} · session ${session.id}`,
      notes,
    };
  });
}

function headerOf(s: PlanSession): PlanHeader {
  return { date: s.date, maxCostUsd: s.maxCostUsd, from: s.from, planner: s.planner, summary: s.draft.summary };
}

/** Rewrites the session's task file and companion from its current plan; returns the plan text. */
async function writeSession(root: string, s: PlanSession): Promise<string> {
  const r = await savePlan(root, s.draft, headerOf(s), { out: s.out });
  return r.text;
}

/** What the prompt answers to, for a did-you-mean on anything else. */
const REPL_COMMANDS = ['show', 'add', 'remove', 'split', 'set', 'approve', 'start', 'quit', 'exit', 'help'];

export const REPL_HELP = `commands:
  show                          the plan: phases, models, estimates
  add TITLE [-- DESCRIPTION]    add a task (complexity medium, no dependencies; change with set)
  remove ID                     remove a task; its dependents inherit its dependencies
  split ID PART | PART [| ...]  split a task into parts that run side by side
  set ID FIELD VALUE            FIELD: ${EDITABLE_FIELDS.join(', ')} (lists comma-separated)
  approve                       mark the plan approved (the task file is already written)
  start                         approve and start the night's batch
  quit                          save and leave; resume with: nightshift plan continue ID
  help                          this list`;

export interface ReplIo {
  input: Readable;
  output: Writable;
  /** Line editing, arrow keys and history. @default when input and output are both terminals */
  terminal?: boolean;
  /** Starts the batch for a task file; returns the batch ID. */
  start(file: string, date: string): Promise<string>;
}

/**
 * The interactive session. Every accepted edit is saved and rewrites the task file; an
 * edit that would make the plan invalid is refused with the reason, and so is one that
 * comes after someone else's save of the session (it is reloaded and shown).
 */
export async function runPlanningRepl(
  config: NightshiftConfig,
  session: PlanSession,
  io: ReplIo,
): Promise<PlanSession> {
  return withStateStore(config, (store) => repl({ root: config.root, store }, session, io));
}

async function repl(place: SessionPlace, session: PlanSession, io: ReplIo): Promise<PlanSession> {
  const say = (s: string) => io.output.write(s + '\n');
  const root = place.root;
  let s = session;
  // In a terminal, readline edits the line (arrows, history); otherwise lines are read as they come.
  const terminal =
    io.terminal ??
    Boolean((io.input as Partial<NodeJS.ReadStream>).isTTY && (io.output as Partial<NodeJS.WriteStream>).isTTY);
  const rl = readline.createInterface({
    input: io.input,
    output: io.output,
    terminal,
    prompt: 'plan> ',
    historySize: terminal ? 200 : 0,
    removeHistoryDuplicates: true,
  });
  // Take the iterator now: it buffers lines that arrive while the plan is being written.
  const lines = rl[Symbol.asyncIterator]();
  const apply = async (draft: PlanDraft, what: string) => {
    s = await saveSession(place, {
      ...s,
      draft,
      state: s.state === 'started' ? 'started' : 'draft',
      log: [...s.log, what],
    });
    say(`${what}\n${await writeSession(root, s)}`);
  };
  say(`session ${s.id} · ${s.from} · ${s.state}\n${await writeSession(root, s)}\n\n${REPL_HELP}`);
  rl.prompt(true);
  for (let next = await lines.next(); !next.done; next = await lines.next()) {
    const raw = next.value;
    const line = raw.trim();
    const [cmd, ...rest] = line.split(/\s+/);
    const arg = line.slice(cmd.length).trim();
    try {
      if (!cmd) {
        // nothing
      } else if (cmd === 'show') say(await writeSession(root, s));
      else if (cmd === 'help') say(REPL_HELP);
      else if (cmd === 'add') {
        const [title, description] = arg.split(/\s+--\s+/);
        if (!title) throw new PlanEditError('add needs a title');
        const r = addTask(s.draft, { title, description });
        await apply(r.draft, `added ${r.id}: ${title}`);
      } else if (cmd === 'remove') await apply(removeTask(s.draft, rest[0] ?? ''), `removed ${rest[0]}`);
      else if (cmd === 'split') {
        const id = rest[0] ?? '';
        const r = splitTask(
          s.draft,
          id,
          arg
            .slice(id.length)
            .split('|')
            .map((p) => p.trim())
            .filter(Boolean),
        );
        await apply(r.draft, `split ${id} into ${r.ids.join(', ')}`);
      } else if (cmd === 'set') {
        const [id, field] = rest;
        const value = arg.replace(/^\S+\s+\S+\s*/, '');
        await apply(modifyTask(s.draft, id ?? '', field ?? '', value), `set ${id} ${field}`);
      } else if (cmd === 'approve' || cmd === 'start') {
        if (s.state === 'draft') {
          s = await saveSession(place, { ...s, state: 'approved', log: [...s.log, 'approved'] });
          say(`approved ${s.out}`);
        }
        if (cmd === 'start') {
          if (s.state === 'started') throw new PlanEditError(`already started as ${s.batchId}`);
          const batchId = await io.start(s.out, s.date);
          s = await recordStarted(place, s, batchId);
          say(`started ${batchId} · nightshift status ${batchId}`);
          break;
        }
      } else if (cmd === 'quit' || cmd === 'exit') break;
      else say(`unknown command "${cmd}"${didYouMeanSuffix(cmd, REPL_COMMANDS)}\n${REPL_HELP}`);
    } catch (err) {
      if (!(err instanceof PlanEditError || err instanceof CliError)) throw err;
      say(`refused: ${err.message}`);
      if (err instanceof PlanSessionChanged) {
        s = (await loadSession(place, s.id)) ?? s;
        say(`reloaded version ${s.version} (${s.state}):\n${await writeSession(root, s)}`);
      }
    }
    // Keep the cursor where typing ahead left it, rather than at the start of what was typed.
    rl.prompt(true);
  }
  rl.close();
  // Every change was saved as it was made.
  say(`\nsaved session ${s.id} (${s.state}); resume with: nightshift plan continue ${s.id}`);
  return s;
}

/**
 * Saves that the session's night started. The night is running by now, so a save made
 * elsewhere meanwhile must not turn this into a refusal: the start is recorded on the
 * latest version.
 */
async function recordStarted(place: SessionPlace, s: PlanSession, batchId: string): Promise<PlanSession> {
  for (let latest = s; ;) {
    try {
      return await saveSession(place, {
        ...latest,
        state: 'started',
        batchId,
        log: [...latest.log, `started ${batchId}`],
      });
    } catch (err) {
      if (!(err instanceof PlanSessionChanged)) throw err;
      latest = (await loadSession(place, s.id)) ?? latest;
    }
  }
}

export async function continueSession(config: NightshiftConfig, id: string): Promise<PlanSession> {
  const s = await withStateStore(config, (store) => loadSession({ root: config.root, store }, id));
  if (!s) throw new CliError(`no planning session "${id}"; see nightshift plan list`, EXIT.notFound);
  return s;
}

export async function listCommand(config: NightshiftConfig): Promise<{ sessions: PlanSession[]; text: string }> {
  const sessions = await withStateStore(config, (store) => listSessions({ root: config.root, store }));
  const text = sessions.length
    ? table(
        ['SESSION', 'STATE', 'TASKS', 'FILE', 'UPDATED', 'FROM'],
        sessions.map((s) => [
          s.id,
          s.state + (s.batchId ? ` (${s.batchId})` : ''),
          String(s.draft.tasks.length),
          s.out,
          s.updatedAt.slice(0, 16),
          s.from.replace(/\s+/g, ' '),
        ]),
        { fit: ['FROM'] },
      )
    : 'no planning sessions; start one with nightshift plan "goal"';
  return { sessions, text };
}

/** `start --decompose "goal"`: the plannedNight workflow plans (as an activity) and runs the batch. */
/**
 * Starts plannedNight. With `waitForBatch`, returns once the planned batch has started (or
 * throws the planning failure), so the caller can follow the batch.
 */
export async function startDecomposed(
  client: Client,
  goal: string,
  o: Omit<PlanOptions, 'prd'> & { workflowId?: string },
  waitForBatch?: (s: string) => void,
): Promise<{ planWorkflowId: string; batchId: string; runId: string }> {
  const date = o.date ?? localDate();
  const batchId = o.workflowId ?? batchIdFor(date);
  const input: PlannedNightInput = {
    goal,
    date,
    batchId,
    maxCostUsd: o.budget,
    repo: o.repo,
    model: o.model,
    out: o.out ?? defaultPlanFile(date),
  };
  const planWorkflowId = planWorkflowIdFor(batchId);
  let runId: string;
  try {
    const h = await client.workflow.start(PLANNED_WORKFLOW, {
      taskQueue: TASK_QUEUE,
      workflowId: planWorkflowId,
      args: [input],
      staticSummary: `plan and run: ${goal.slice(0, 100)}`,
    });
    runId = h.firstExecutionRunId;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      throw new CliError(`${planWorkflowId} already exists; choose another --workflow-id`, EXIT.usage);
    throw err;
  }
  if (waitForBatch) {
    waitForBatch(`planning in ${planWorkflowId}; the night will run as ${batchId}`);
    for (;;) {
      const batch = await client.workflow
        .getHandle(batchId)
        .describe()
        .catch(() => undefined);
      if (batch) break;
      const plan = await client.workflow.getHandle(planWorkflowId).describe();
      if (plan.status.name !== 'RUNNING') {
        const why = await client.workflow
          .getHandle(planWorkflowId)
          .result()
          .then(
            () => plan.status.name.toLowerCase(),
            (err: unknown) => failureMessage(err),
          );
        throw new CliError(`planning failed: ${why}`, EXIT.failure);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return { planWorkflowId, batchId, runId };
}

export function describeSession(s: PlanSession): string {
  return `${s.id} · ${s.state} · ${s.draft.tasks.length} tasks · ${s.out} · budget ${usd(s.maxCostUsd)}`;
}
