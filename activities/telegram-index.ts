/**
 * Which question each Telegram message asked, so `nightshift telegram` can turn a reply to
 * that message into the `answer` signal for the right task. One small JSON file per sent
 * question under `<root>/.nightshift/telegram/questions/`, named by chat and message id:
 * the worker that sent it writes it, the listener (same NIGHTSHIFT_ROOT) reads it. Writes
 * are whole-file and keyed, so a retried notification writes the same record.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { stateDir, type NightshiftConfig } from '../common/config';

export interface TelegramQuestionRef {
  chatId: string;
  messageId: number;
  batchId: string;
  taskId: string;
  /** The task workflow the answer is signalled to. */
  workflowId: string;
  questionId: string;
}

export function telegramDir(config: Pick<NightshiftConfig, 'root'>): string {
  return path.join(stateDir(config), 'telegram');
}

const fileName = (chatId: string, messageId: number) => `${chatId.replace(/[^A-Za-z0-9_-]/g, '_')}.${messageId}.json`;

export class TelegramQuestionIndex {
  constructor(private readonly dir: string) {}

  static forRoot(config: Pick<NightshiftConfig, 'root'>): TelegramQuestionIndex {
    return new TelegramQuestionIndex(path.join(telegramDir(config), 'questions'));
  }

  async put(ref: TelegramQuestionRef): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    const file = path.join(this.dir, fileName(ref.chatId, ref.messageId));
    // Write then rename, so a reader never sees half a record.
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(ref));
    await fs.rename(tmp, file);
  }

  async get(chatId: string, messageId: number): Promise<TelegramQuestionRef | undefined> {
    try {
      return JSON.parse(await fs.readFile(path.join(this.dir, fileName(chatId, messageId)), 'utf8')) as TelegramQuestionRef;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
}
