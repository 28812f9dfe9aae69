/**
 * Notifications (Telegram alerts, plus Slack and a generic JSON webhook). A
 * channel that fails never fails a task: each channel gets a few attempts within a bounded
 * time (common/retry.ts, which honours a rate limit's Retry-After), then the failure is
 * returned for the report. Delivery is recorded per (workflow, key, channel),
 * so a retried activity does not send twice.
 */
import type { NotifyEnv } from '../common/config';
import { redactionNote, workerRedactor } from '../common/redact';
import { HttpStatusError, retryAfterOf, withRetries } from '../common/retry';
import { NOTIFY_EVENTS, type NotifyEvent, type NotifySettings, type OpenQuestion } from '../contract';
import { withHeartbeats } from './heartbeat';
import type { TelegramQuestionIndex } from './questions/telegram-index';
import type { TranscriptStore } from './task/transcripts';

export interface NotifyInput {
  /** The workflow sending it; with `key`, what makes a delivery happen once. */
  workflowId: string;
  key: string;
  event: NotifyEvent;
  batchId: string;
  taskId?: string;
  /** One line. */
  title: string;
  /** The body (markdown-ish plain text). */
  text: string;
  settings?: NotifySettings;
  /** Extra fields for the JSON webhook (the question, the budget figures). */
  data?: Record<string, unknown>;
}

export interface NotifyResult {
  sent: string[];
  failed: { channel: string; error: string }[];
  /** Telegram's message_id, so a reply to it can be matched to the question. */
  telegramMessageId?: number;
  /** The chat it went to, as Telegram names it (a numeric id even when sent to "@channel"). */
  telegramChatId?: string;
}

export interface NotifyDeps {
  env: NotifyEnv;
  store: TranscriptStore;
  /** Where a question sent on Telegram is recorded, for `nightshift telegram`. @default none */
  telegramIndex?: TelegramQuestionIndex;
  /** @default 3 */
  attempts?: number;
  /** Delay before the second attempt; doubles after. @default 500 */
  backoffMs?: number;
  /**
   * A channel's attempts and waits end within this, so three slow channels still finish
   * inside the activity's timeout (workflows/activity-profiles.ts notifyCall). @default 45000
   */
  giveUpAfterMs?: number;
  /** @default 10000 */
  requestTimeoutMs?: number;
}

interface Channel {
  name: 'telegram' | 'slack' | 'webhook';
  send(): Promise<Record<string, unknown> | undefined>;
}

/** Telegram caps a message at 4096 characters. */
const TELEGRAM_MAX = 4000;

async function post(url: string, body: unknown, timeoutMs: number): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Slack answers `ok` as plain text
  }
  if (!res.ok)
    throw new HttpStatusError(
      res.status,
      `HTTP ${res.status}: ${text.slice(0, 200)}`,
      retryAfterOf(res.headers, parsed),
    );
  return parsed;
}

/** The channels `settings` (task file) and `env` (worker) configure together. */
export function channelsFor(input: NotifyInput, env: NotifyEnv, timeoutMs: number): Channel[] {
  const s = input.settings ?? {};
  const out: Channel[] = [];
  const chatId = s.telegram?.chatId ?? env.telegramChatId;
  if (env.telegramBotToken && chatId) {
    const token = env.telegramBotToken;
    out.push({
      name: 'telegram',
      async send() {
        const body = `${input.title}\n\n${input.text}`;
        const r = (await post(
          `${env.telegramApiUrl.replace(/\/$/, '')}/bot${token}/sendMessage`,
          { chat_id: chatId, text: body.length > TELEGRAM_MAX ? body.slice(0, TELEGRAM_MAX - 1) + '…' : body },
          timeoutMs,
        )) as {
          ok?: boolean;
          description?: string;
          result?: { message_id?: number; chat?: { id?: number | string } };
        };
        if (r?.ok !== true) throw new Error(`Telegram said: ${r?.description ?? JSON.stringify(r).slice(0, 200)}`);
        return { telegramMessageId: r.result?.message_id, telegramChatId: String(r.result?.chat?.id ?? chatId) };
      },
    });
  }
  const slack = s.slack?.webhookUrl ?? env.slackWebhookUrl;
  if (slack)
    out.push({
      name: 'slack',
      send: async () => (await post(slack, { text: `*${input.title}*\n${input.text}` }, timeoutMs), undefined),
    });
  const hook = s.webhook?.url ?? env.webhookUrl;
  if (hook) {
    out.push({
      name: 'webhook',
      send: async () => (
        await post(
          hook,
          {
            event: input.event,
            batchId: input.batchId,
            taskId: input.taskId,
            title: input.title,
            text: input.text,
            ...input.data,
          },
          timeoutMs,
        ),
        undefined
      ),
    });
  }
  return out;
}

/** A question that went out on Telegram is recorded by chat and message id, so a reply to it answers it. */
async function recordTelegramQuestion(
  input: NotifyInput,
  sent: Partial<NotifyResult>,
  index: TelegramQuestionIndex | undefined,
): Promise<void> {
  const q = input.data?.question as OpenQuestion | undefined;
  if (
    !index ||
    input.event !== 'question' ||
    !q ||
    sent.telegramMessageId === undefined ||
    sent.telegramChatId === undefined
  )
    return;
  await index.put({
    chatId: sent.telegramChatId,
    messageId: sent.telegramMessageId,
    batchId: input.batchId,
    taskId: q.taskId,
    workflowId: q.workflowId,
    questionId: q.questionId,
  });
}

const wanted = (input: NotifyInput) => (input.settings?.events ?? NOTIFY_EVENTS).includes(input.event);

const sentKey = (key: string, channel: string) => `notify.${key.replace(/[^A-Za-z0-9._-]/g, '_')}.${channel}.json`;

export function createNotifyActivities(deps: NotifyDeps) {
  const attempts = deps.attempts ?? 3;
  const backoff = deps.backoffMs ?? 500;
  const giveUpAfterMs = deps.giveUpAfterMs ?? 45_000;
  const timeoutMs = deps.requestTimeoutMs ?? 10_000;
  return withHeartbeats(
    {
      /** Sends to every configured channel. Never throws: failures come back in `failed`. */
      async notify(original: NotifyInput): Promise<NotifyResult> {
        const result: NotifyResult = { sent: [], failed: [] };
        if (!wanted(original)) return result;
        const { title, text, data } = original;
        const redacted = workerRedactor({ notify: deps.env }).redactDeep({ title, text, data });
        const input = redacted.found.length
          ? {
              ...original,
              ...redacted.value,
              text: `${redacted.value.text}\n\n(nightshift ${redactionNote(redacted.found, 'this message')})`,
            }
          : original;
        for (const ch of channelsFor(input, deps.env, timeoutMs)) {
          const k = sentKey(input.key, ch.name);
          const done = await deps.store.get(input.workflowId, k);
          if (done !== undefined) {
            Object.assign(result, JSON.parse(done));
            result.sent.push(ch.name);
            continue;
          }
          let extra: Record<string, unknown>;
          try {
            extra = (await withRetries(() => ch.send(), { attempts, firstDelayMs: backoff, giveUpAfterMs })) ?? {};
          } catch (err) {
            result.failed.push({ channel: ch.name, error: err instanceof Error ? err.message : String(err) });
            continue;
          }
          // Sent is sent: a record that cannot be written must not send the message again.
          await recordTelegramQuestion(input, extra, deps.telegramIndex).catch((err: Error) =>
            result.failed.push({
              channel: ch.name,
              error: `sent, but a reply to it cannot be matched to the question (nightshift telegram): ${err.message}`,
            }),
          );
          await deps.store.put(input.workflowId, k, JSON.stringify(extra)).catch((err: Error) =>
            result.failed.push({
              channel: ch.name,
              error: `sent, but not recorded as sent, so a retried notification may send it again: ${err.message}`,
            }),
          );
          Object.assign(result, extra);
          result.sent.push(ch.name);
        }
        return result;
      },
    },
    ['notify'],
  );
}
