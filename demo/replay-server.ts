/**
 * The offline replay model: without ANTHROPIC_API_KEY the demo night still runs its agent
 * tasks, answered from a recorded transcript. Responses name the model `replay:<file>` so
 * the task result and the report say a replay answered, never silently.
 *
 * A recording is `{ "model"?: string, "turns": [{ "content": [...], "stop_reason": "...",
 * "usage"?: {...} }, ...] }`. Turn N of a request (its assistant messages + 1) gets
 * `turns[N-1]`, so a retried request gets the same answer.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { apiError, serveMessages, type MessagesServer } from './messages-server';

export interface RecordedTurn {
  content: unknown[];
  stop_reason?: string;
  usage?: {
    input_tokens?: number;
    output_tokens?: number;
    cache_creation_input_tokens?: number;
    cache_read_input_tokens?: number;
  };
}

export interface Recording {
  description?: string;
  /** The model the recording was made with. */
  model?: string;
  turns: RecordedTurn[];
}

export async function loadRecording(file: string): Promise<Recording> {
  const rec = JSON.parse(await fs.readFile(file, 'utf8')) as Recording;
  if (!Array.isArray(rec.turns) || rec.turns.length === 0)
    throw new Error(`${file}: a recording needs a non-empty "turns" list`);
  return rec;
}

export async function startReplayModelServer(recordingFile: string): Promise<MessagesServer> {
  const rec = await loadRecording(recordingFile);
  const name = `replay:${path.basename(recordingFile)}`;
  return serveMessages(({ turn }) => {
    const t = rec.turns[turn - 1];
    if (!t)
      return apiError(
        400,
        'invalid_request_error',
        `${name} has ${rec.turns.length} recorded turns; turn ${turn} was asked for`,
      );
    return {
      status: 200,
      json: {
        id: `msg_replay_${turn}`,
        type: 'message',
        role: 'assistant',
        model: name,
        content: t.content,
        stop_reason: t.stop_reason ?? 'end_turn',
        stop_sequence: null,
        usage: {
          input_tokens: 0,
          output_tokens: 0,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 0,
          ...t.usage,
        },
      },
    };
  });
}
