/**
 * `nightshift telegram`: "reply via Telegram". A long-poll listener on the Bot
 * API's getUpdates: a reply to a question's message becomes the `answer` signal on that
 * task, naming the question. The message is found in the records the worker wrote when it
 * sent the question (activities/questions/telegram-index.ts), in the state store workers share; a
 * reply to a question message the records do not know (a worker on another store) is
 * matched by the answer command the message ends with, if it came from the configured
 * TELEGRAM_CHAT_ID.
 *
 * Offsets are saved after each batch of updates so a restarted listener does not answer
 * twice; Telegram itself forgets an update once a later offset is asked for.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import type { NotifyEnv } from '../../common/config';
import { HttpStatusError, retryAfterOf, withRetries } from '../../common/retry';
import type { StateStore } from '../../common/store';
import { TelegramQuestionIndex, telegramDir } from '../../activities/questions/telegram-index';
import { answerSignal } from '../../contract';
import { CliError, EXIT } from '../errors';
import { answerTask } from './questions';

interface TgMessage {
  message_id: number;
  chat: { id: number | string };
  text?: string;
  from?: { is_bot?: boolean; username?: string; first_name?: string };
  reply_to_message?: TgMessage;
}

interface TgUpdate {
  update_id: number;
  message?: TgMessage;
}

export interface ForwardedAnswer {
  updateId: number;
  taskId: string;
  workflowId: string;
  questionId?: string;
  text: string;
  /** How the reply was matched to its question. */
  via: 'record' | 'message';
}

export interface TelegramListenerOptions {
  client: Client;
  env: NotifyEnv;
  root: string;
  /** Where the workers record the questions they sent (NIGHTSHIFT_STORE). @default the file store under `root` */
  store?: StateStore;
  /** One getUpdates call, then return. */
  once?: boolean;
  /** Long-poll wait per call in seconds. @default 25 (with --once: 0) */
  pollSeconds?: number;
  signal?: AbortSignal;
  onAnswer?: (a: ForwardedAnswer) => void;
  onProblem?: (line: string) => void;
}

/** After this long failing, the listener says so once more and starts its backoff over. */
const LISTENER_PATIENCE_MS = 15 * 60_000;

/** The answer command the question message ends with: `nightshift answer TASK "…" --batch BATCH`. */
const ANSWER_LINE = /nightshift answer (\S+) "…" --batch (\S+)\s*$/m;

async function call<T>(env: NotifyEnv, token: string, method: string, body: unknown, signal?: AbortSignal): Promise<T> {
  const res = await fetch(`${env.telegramApiUrl.replace(/\/$/, '')}/bot${token}/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  });
  const r = (await res.json().catch(() => ({ ok: false, description: `HTTP ${res.status}` }))) as {
    ok?: boolean;
    description?: string;
    result?: T;
  };
  if (r.ok !== true)
    throw new HttpStatusError(
      res.status,
      `Telegram ${method}: ${r.description ?? `HTTP ${res.status}`}`,
      retryAfterOf(res.headers, r),
    );
  return r.result as T;
}

/** Runs until `signal` aborts (or after one poll with `once`); returns the answers it forwarded. */
export async function listenTelegram(o: TelegramListenerOptions): Promise<ForwardedAnswer[]> {
  const token = o.env.telegramBotToken;
  if (!token)
    throw new CliError(
      'TELEGRAM_BOT_TOKEN is not set: the listener reads replies with the same bot that sends the questions',
      EXIT.usage,
    );
  const index = o.store ? new TelegramQuestionIndex(o.store) : TelegramQuestionIndex.forRoot({ root: o.root });
  const offsetFile = path.join(telegramDir({ root: o.root }), 'offset');
  let offset = Number((await fs.readFile(offsetFile, 'utf8').catch(() => '0')).trim()) || 0;
  const pollSeconds = o.pollSeconds ?? (o.once ? 0 : 25);
  const forwarded: ForwardedAnswer[] = [];

  while (!o.signal?.aborted) {
    let updates: TgUpdate[];
    try {
      // A network blip, Telegram restarting or its flood control: back off up to a minute,
      // as long as it asks. Even a refusal (a revoked token) is retried, since the listener
      // is meant to outlast a night of such things; --once reports the first failure.
      updates = await withRetries(
        () =>
          call<TgUpdate[]>(
            o.env,
            token,
            'getUpdates',
            { offset, timeout: pollSeconds, allowed_updates: ['message'] },
            o.signal,
          ),
        {
          attempts: o.once ? 1 : Infinity,
          firstDelayMs: 1000,
          maxDelayMs: 60_000,
          giveUpAfterMs: LISTENER_PATIENCE_MS,
          retryable: () => true,
          signal: o.signal,
          onRetry: (err, waitMs) =>
            o.onProblem?.(`${(err as Error).message}; retrying in ${Math.ceil(waitMs / 1000)}s`),
        },
      );
    } catch (err) {
      if (o.signal?.aborted) break;
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause : (err as Error);
      if (o.once) throw new CliError(cause.message, EXIT.unavailable);
      o.onProblem?.(`${(err as Error).message}; still listening`);
      continue;
    }
    for (const u of updates) {
      offset = Math.max(offset, u.update_id + 1);
      const a = await forward(o, index, token, u).catch((err: Error) => {
        o.onProblem?.(`update ${u.update_id}: ${err.message}`);
        return undefined;
      });
      if (a) {
        forwarded.push(a);
        o.onAnswer?.(a);
      }
    }
    if (updates.length) {
      await fs.mkdir(path.dirname(offsetFile), { recursive: true });
      await fs.writeFile(offsetFile, String(offset));
    }
    if (o.once) break;
  }
  return forwarded;
}

/** One update: if it replies to a question, signal the answer and confirm in the chat. */
async function forward(
  o: TelegramListenerOptions,
  index: TelegramQuestionIndex,
  token: string,
  u: TgUpdate,
): Promise<ForwardedAnswer | undefined> {
  const m = u.message;
  const replied = m?.reply_to_message;
  const text = m?.text?.trim();
  if (!m || !replied || !text) return undefined;
  const chatId = String(m.chat.id);
  const ref = await index.get(chatId, replied.message_id);
  const cmd = ANSWER_LINE.exec(replied.text ?? '');
  // Without a record, only the configured chat may answer: anyone can message a bot.
  if (!ref && (!cmd || !replied.from?.is_bot || o.env.telegramChatId === undefined || chatId !== o.env.telegramChatId))
    return undefined;
  const confirm = (line: string) =>
    call(
      o.env,
      token,
      'sendMessage',
      { chat_id: m.chat.id, reply_to_message_id: m.message_id, text: line },
      o.signal,
    ).catch((err: Error) => o.onProblem?.(`could not reply in the chat: ${err.message}`));
  let a: ForwardedAnswer;
  try {
    if (ref) {
      const handle = o.client.workflow.getHandle(ref.workflowId);
      if ((await handle.describe()).status.name !== 'RUNNING')
        throw new Error(`task ${ref.workflowId} is no longer running; its question can no longer be answered`);
      await handle.signal(answerSignal, { text, questionId: ref.questionId });
      a = {
        updateId: u.update_id,
        taskId: ref.taskId,
        workflowId: ref.workflowId,
        questionId: ref.questionId,
        text,
        via: 'record',
      };
    } else {
      const sent = await answerTask(o.client, cmd![1], text, cmd![2]);
      a = {
        updateId: u.update_id,
        taskId: sent.taskId,
        workflowId: sent.workflowId,
        questionId: sent.questionId,
        text,
        via: 'message',
      };
    }
  } catch (err) {
    await confirm(`Not sent: ${(err as Error).message}`);
    throw err;
  }
  await confirm(`Answer sent to ${a.taskId} (${a.workflowId}).`);
  return a;
}
