/**
 * Which question each Telegram message asked, so `nightshift telegram` can turn a reply to
 * that message into the `answer` signal for the right task. One small JSON record per sent
 * question in the state store (kind `telegram`, scope `questions`, keyed by chat and
 * message id): the worker that sent it writes it, the listener reads it, on any host that
 * shares the store. With the file store that is `<root>/.nightshift/telegram/questions/`.
 * A chat's message id names one message, so the first record written for it stands: a
 * retried notification finds it there.
 */
import * as path from 'node:path';
import { stateDir, type NightshiftConfig } from '../../common/config';
import { FileStateStore, type StateStore } from '../../common/store';

export interface TelegramQuestionRef {
  chatId: string;
  messageId: number;
  batchId: string;
  taskId: string;
  /** The task workflow the answer is signalled to. */
  workflowId: string;
  questionId: string;
}

/** The listener's own files (its update offset): they stay on the host it runs on. */
export function telegramDir(config: Pick<NightshiftConfig, 'root'>): string {
  return path.join(stateDir(config), 'telegram');
}

const SCOPE = 'questions';
const keyFor = (chatId: string, messageId: number) => `${chatId.replace(/[^A-Za-z0-9_-]/g, '_')}.${messageId}.json`;

export class TelegramQuestionIndex {
  constructor(private readonly store: StateStore) {}

  /** The index in the file store under `root`, for one machine. */
  static forRoot(config: Pick<NightshiftConfig, 'root'>): TelegramQuestionIndex {
    return new TelegramQuestionIndex(new FileStateStore({ dir: stateDir(config) }));
  }

  async put(ref: TelegramQuestionRef): Promise<void> {
    await this.store.putIfAbsent('telegram', SCOPE, keyFor(ref.chatId, ref.messageId), JSON.stringify(ref));
  }

  async get(chatId: string, messageId: number): Promise<TelegramQuestionRef | undefined> {
    const text = await this.store.get('telegram', SCOPE, keyFor(chatId, messageId));
    return text === undefined ? undefined : (JSON.parse(text) as TelegramQuestionRef);
  }
}
