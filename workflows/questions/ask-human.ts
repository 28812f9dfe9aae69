/**
 * ask_human in the agent loop: record the question, tell a person, wait durably for the
 * `answer` signal (with the question's timeout as the fallback), and write the answer as
 * the tool's result so it is in the very next model request.
 *
 * Answers are kept in an inbox from the moment the workflow starts, so an answer that
 * arrives before the wait begins (or just before a continue-as-new, which carries the
 * inbox) is not lost. An answer naming a questionId goes to that question; one without
 * goes to the open question, or to the next one asked.
 *
 * Deterministic code only.
 */
import {
  condition,
  getExternalWorkflowHandle,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { taskDetails } from '../night/progress';
import type { Activities } from '../../activities';
import { bookkeeping } from '../activity-profiles';
import { renderQuestionMessage } from '../../common/questions';
import {
  answerSignal,
  SEARCH_ATTRIBUTES,
  type AnsweredQuestion,
  type AnswerInput,
  type OpenQuestion,
  type QuestionTimeoutPolicy,
  type TaskResult,
  type TaskState,
  type TaskStatus,
} from '../../contract';
import { taskEventSignal } from '../task/messages';
import type { Notifier } from '../notify';

const { recordQuestion, recordAnswer } = proxyActivities<Activities>(bookkeeping);

/** Answers received and not yet given to a question. */
export class AnswerInbox {
  constructor(readonly answers: AnswerInput[] = []) {}

  /** Registers the task's `answer` handler; call once, at the start of the workflow. */
  listen(): void {
    setHandler(answerSignal, (a) => {
      if (typeof a?.text !== 'string' || a.text.trim() === '') return;
      this.answers.push({
        text: a.text,
        ...(a.questionId ? { questionId: a.questionId } : {}),
        ...(typeof a.by === 'string' && a.by.trim() ? { by: a.by.trim().slice(0, 100) } : {}),
      });
    });
  }

  private indexFor(questionId: string): number {
    return this.answers.findIndex((a) => !a.questionId || a.questionId === questionId);
  }

  has(questionId: string): boolean {
    return this.indexFor(questionId) >= 0;
  }

  take(questionId: string): AnswerInput | undefined {
    const i = this.indexFor(questionId);
    return i < 0 ? undefined : this.answers.splice(i, 1)[0];
  }
}

/** Tells the batch (if this task has one) what the task is doing, for its status and `nightshift questions`. */
export async function tellBatch(taskId: string, status: TaskState, question: OpenQuestion | null): Promise<void> {
  const parent = workflowInfo().parent;
  if (!parent) return;
  await getExternalWorkflowHandle(parent.workflowId)
    .signal(taskEventSignal, { taskId, status, question })
    .catch(() => undefined); // the batch may have ended; the task's own status still says it
}

export function setTaskState(status: TaskStatus, state: TaskState): void {
  status.status = state;
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: state }]);
}

export interface AskContext {
  batchId: string;
  /** Where the run's transcript is kept (workflows/task/messages.ts taskRunKey); default the workflow ID. */
  storeKey?: string;
  turn: number;
  toolUseId: string;
  status: TaskStatus;
  inbox: AnswerInbox;
  notifier: Notifier;
  timeoutMs: number;
  onTimeout: QuestionTimeoutPolicy;
}

export interface AskOutcome {
  /** Set when the task ends here (park or fail). */
  end?: Partial<TaskResult>;
  /** Characters of the tool result the next request carries (for the budget's estimate). */
  resultChars: number;
  /** The assumption the agent goes on with, when nobody answered. */
  assumption?: string;
  /** The question with its answer, when a person answered. */
  answered?: AnsweredQuestion;
  /** How long the task waited. */
  waitedMs: number;
}

/** Longest question and answer kept with the task's result: history stays small, the PR readable. */
const QUESTION_CHARS = 500;
const ANSWER_CHARS = 2000;
const capped = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

const hours = (ms: number) =>
  ms >= 3_600_000
    ? `${+(ms / 3_600_000).toFixed(1)} h`
    : ms >= 60_000
      ? `${Math.round(ms / 60_000)} min`
      : `${Math.round(ms / 1000)} s`;

/** Handles one ask_human call of turn `ctx.turn`. */
export async function askHuman(ctx: AskContext): Promise<AskOutcome> {
  const { status, turn, toolUseId } = ctx;
  const workflowId = status.workflowId;
  const storeKey = ctx.storeKey ?? workflowId;
  const askedAt = Date.now();
  const q = await recordQuestion({
    workflowId,
    storeKey,
    batchId: ctx.batchId,
    taskId: status.taskId,
    turn,
    toolUseId,
    askedAt,
    timeoutMs: ctx.timeoutMs,
    onTimeout: ctx.onTimeout,
  });

  setTaskState(status, 'waiting_for_answer');
  status.questions = [q];
  status.activity = `turn ${turn}: waiting for an answer to "${q.question.slice(0, 80)}"`;
  setCurrentDetails(taskDetails(status, askedAt));
  await tellBatch(status.taskId, 'waiting_for_answer', q);
  ctx.notifier.send(
    'question',
    `question-${q.questionId}`,
    `${status.taskId} asks: ${q.question.slice(0, 120)}`,
    renderQuestionMessage(q),
    { question: q },
  );

  const answered = await condition(() => ctx.inbox.has(q.questionId), Math.max(0, q.deadline - Date.now()), {
    summary: `waiting for an answer to question ${q.questionId} (${q.onTimeout} at the deadline)`,
  });
  const waitedMs = Date.now() - askedAt;
  const answer = answered ? ctx.inbox.take(q.questionId) : undefined;

  let content: string;
  let summary: string;
  let assumption: string | undefined;
  let answeredQ: AnsweredQuestion | undefined;
  if (answer) {
    content = `Answer from a person: ${answer.text}`;
    summary = `ask_human: answered after ${hours(waitedMs)}`;
    answeredQ = {
      questionId: q.questionId,
      question: capped(q.question, QUESTION_CHARS),
      answer: capped(answer.text, ANSWER_CHARS),
      ...(answer.by ? { by: answer.by } : {}),
      askedAt: q.askedAt,
      answeredAt: askedAt + waitedMs,
    };
  } else if (ctx.onTimeout === 'continue') {
    assumption = q.assumption;
    content = `Nobody answered within ${hours(ctx.timeoutMs)}. Go on with your stated assumption (${q.assumption}) and list it in your final summary as an assumption a person should check.`;
    summary = `ask_human: no answer in ${hours(ctx.timeoutMs)}; assuming ${q.assumption.slice(0, 80)}`;
  } else {
    const why = `nobody answered "${q.question.slice(0, 200)}" within ${hours(ctx.timeoutMs)}`;
    if (ctx.onTimeout === 'park') {
      // The task ends waiting: its work is kept (the loop's cleanup) and its dependents are held.
      status.activity = 'parked: waiting for an answer';
      return {
        end: { status: 'waiting_for_answer', error: `parked: ${why}; the work so far is kept`, question: q },
        resultChars: 0,
        waitedMs,
      };
    }
    status.questions = [];
    await tellBatch(status.taskId, 'running', null);
    return { end: { status: 'failed', error: `${why} (on_question_timeout: fail)` }, resultChars: 0, waitedMs };
  }

  const written = await recordAnswer({ workflowId: storeKey, turn, toolUseId, content, summary });
  status.questions = [];
  setTaskState(status, 'running');
  status.activity = `turn ${turn}: ${summary}`;
  setCurrentDetails(taskDetails(status, Date.now()));
  await tellBatch(status.taskId, 'running', null);
  return { resultChars: written.chars, assumption, answered: answeredQ, waitedMs };
}
