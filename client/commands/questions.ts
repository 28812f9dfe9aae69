/**
 * `answer`, `questions` and `budget raise`: a person answering agents and raising the
 * budget from a terminal. Answers are the `answer` signal on the task's workflow; the
 * task is found through the search attributes when no batch is named.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { questionsDir } from '../../activities/questions/ask-human';
import type { HostSettings, NightshiftConfig } from '../../common/config';
import {
  answerSignal,
  raiseBudgetUpdate,
  taskStatusQuery,
  TASK_WORKFLOW,
  taskWorkflowId,
  type OpenQuestion,
} from '../../contract';
import { readBatch, runningBatchIds } from '../batches';
import { CliError, EXIT, failureMessage } from '../errors';
import { duration, table } from '../format';
import { runnable } from '../hints';
import { pollingWorkers } from '../workers';

export interface AnswerSent {
  taskId: string;
  workflowId: string;
  questionId?: string;
  question?: string;
}

/** The running task workflow for `taskId`: `<batch>/<task>` when the batch is given, else found by search attribute. */
async function findTaskWorkflow(client: Client, taskId: string, batch?: string): Promise<string> {
  if (batch) return taskWorkflowId(batch, taskId);
  const ids: string[] = [];
  const query = `WorkflowType='${TASK_WORKFLOW}' AND ExecutionStatus='Running' AND NightshiftTask='${taskId.replace(/'/g, '')}'`;
  for await (const wf of client.workflow.list({ query })) ids.push(wf.workflowId);
  if (ids.length === 0)
    throw new CliError(
      `no running task "${taskId}"; see \`nightshift questions\` for the tasks waiting for an answer`,
      EXIT.notFound,
    );
  if (ids.length > 1)
    throw new CliError(
      `task "${taskId}" runs in more than one batch (${ids.join(', ')}); choose one with --batch`,
      EXIT.usage,
    );
  return ids[0];
}

/** Who answers at this terminal, for the report and the PR: the local user name, when the system knows one. */
export function localUser(host: Pick<HostSettings, 'user'>): string | undefined {
  try {
    return os.userInfo().username || undefined;
  } catch {
    return host.user;
  }
}

/** Sends `text` to the task's open question (naming it, so it cannot answer a later one by mistake). */
/** `by` names who answered (localUser at a terminal); none when the answer came from elsewhere, as Telegram's do. */
export async function answerTask(
  client: Client,
  taskId: string,
  text: string,
  batch?: string,
  by?: string,
): Promise<AnswerSent> {
  if (!text.trim()) throw new CliError('the answer is empty', EXIT.usage);
  const workflowId = await findTaskWorkflow(client, taskId, batch);
  const handle = client.workflow.getHandle(workflowId);
  let open: OpenQuestion | undefined;
  try {
    const d = await handle.describe();
    if (d.status.name !== 'RUNNING')
      throw new CliError(
        `task ${workflowId} is not running (${d.status.name.toLowerCase()}); its question can no longer be answered`,
        EXIT.notFound,
      );
    // Without a worker the question is not known, but the signal still waits for one.
    if ((await pollingWorkers(client)).length > 0) open = (await handle.query(taskStatusQuery)).questions?.[0];
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new CliError(`no task workflow "${workflowId}"`, EXIT.notFound);
    if (err instanceof CliError) throw err;
    // No worker to answer the query: the signal is still delivered when one returns.
  }
  await handle.signal(answerSignal, { text, ...(open ? { questionId: open.questionId } : {}), ...(by ? { by } : {}) });
  return { taskId, workflowId, ...(open ? { questionId: open.questionId, question: open.question } : {}) };
}

/** Answer files: `agent_questions/<task-id>-answer.md`. Sent ones are renamed `*.sent.md`. */
export async function answerFromFiles(
  client: Client,
  config: NightshiftConfig,
  dir?: string,
  batch?: string,
): Promise<{ sent: AnswerSent[]; failed: { file: string; error: string }[] }> {
  const from = path.resolve(dir ?? questionsDir(config));
  let names: string[];
  try {
    names = await fs.readdir(from);
  } catch {
    throw new CliError(`no answers directory ${from}`, EXIT.notFound);
  }
  const sent: AnswerSent[] = [];
  const failed: { file: string; error: string }[] = [];
  for (const name of names.filter((n) => n.endsWith('-answer.md')).sort()) {
    const file = path.join(from, name);
    const taskId = name.slice(0, -'-answer.md'.length);
    // The seed's files start with "# Answer to task-001"; the rest is the answer.
    const text = (await fs.readFile(file, 'utf8')).replace(/^#\s*Answer to .*\n+/i, '').trim();
    try {
      sent.push(await answerTask(client, taskId, text, batch, localUser(config.host)));
      await fs.rename(file, file.replace(/-answer\.md$/, '-answer.sent.md'));
    } catch (err) {
      failed.push({ file: path.relative(process.cwd(), file) || file, error: (err as Error).message });
    }
  }
  return { sent, failed };
}

export type ListedQuestion = OpenQuestion & { batchId: string; ageMs: number };

/** Every open question across running batches, oldest first. */
export async function listQuestions(client: Client, now = Date.now()): Promise<ListedQuestion[]> {
  const out: ListedQuestion[] = [];
  for (const batchId of await runningBatchIds(client)) {
    // A batch that closed since the list is read from its result; no worker is an error, not "no questions".
    const s = await readBatch(client, batchId).catch((err: unknown) =>
      err instanceof CliError && err.exitCode === EXIT.notFound ? undefined : Promise.reject(err),
    );
    for (const q of s?.questions ?? []) out.push({ ...q, batchId, ageMs: now - q.askedAt });
  }
  return out.sort((a, b) => a.askedAt - b.askedAt);
}

export function renderQuestions(qs: ListedQuestion[]): string {
  if (qs.length === 0) return 'no open questions';
  const rows = qs.map((q) => [q.taskId, duration(q.ageMs), q.question.replace(/\s+/g, ' '), runnable(q.answerCommand)]);
  // The answer command is pasted, so it is never the column cut.
  return table(['TASK', 'AGE', 'QUESTION', 'ANSWER WITH'], rows, { fit: ['QUESTION'] });
}

export async function raiseBudget(
  client: Client,
  batchId: string,
  usd: string,
  taskId?: string,
): Promise<{ capUsd: number; resumed: string[] }> {
  const addUsd = Number(usd);
  if (!Number.isFinite(addUsd) || addUsd <= 0)
    throw new CliError(`"${usd}" is not an amount of US dollars above 0`, EXIT.usage);
  try {
    return await client.workflow
      .getHandle(batchId)
      .executeUpdate(raiseBudgetUpdate, { args: [{ addUsd, ...(taskId ? { taskId } : {}) }] });
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new CliError(`no running batch "${batchId}"`, EXIT.notFound);
    if (err instanceof WorkflowUpdateFailedError) throw new CliError(failureMessage(err), EXIT.usage);
    throw err;
  }
}
