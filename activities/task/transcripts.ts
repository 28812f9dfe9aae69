/**
 * The claim check (design.md, "Why each model call is its own activity"): transcripts live
 * here, outside workflow history, keyed by workflow ID and turn. Activities read and
 * append; the workflow only ever sees short summaries.
 *
 * Every record is written once under a key that names its turn (and tool_use id), so a
 * retried activity finds its own earlier write instead of appending a second time.
 */
import * as path from 'node:path';
import type Anthropic from '@anthropic-ai/sdk';
import { stateDir, type NightshiftConfig } from '../../common/config';
import { FileStateStore, safeWorkflowDirName, type StateStore } from '../../common/store';
import type { TokenUsage } from '../../contract';

export { safeWorkflowDirName };

/** A task's transcript: the `transcripts` records of the state store, one scope per workflow ID. */
export interface TranscriptStore {
  /** The value under `key`, or undefined if none was written. */
  get(workflowId: string, key: string): Promise<string | undefined>;
  /** Replaces the value atomically: a reader sees the old value or the new one, never part of one. */
  put(workflowId: string, key: string, value: string): Promise<void>;
  /** Writes the value unless `key` has one. @returns false when an earlier writer (a retry's first attempt, another worker) won. */
  putIfAbsent(workflowId: string, key: string, value: string): Promise<boolean>;
  /** Removes the value; no error if there is none. */
  delete(workflowId: string, key: string): Promise<void>;
}

/** The transcripts kept in `store`. */
export function transcriptsIn(store: StateStore): TranscriptStore {
  return {
    get: (workflowId, key) => store.get('transcripts', workflowId, key),
    put: (workflowId, key, value) => store.put('transcripts', workflowId, key, value),
    putIfAbsent: (workflowId, key, value) => store.putIfAbsent('transcripts', workflowId, key, value),
    delete: (workflowId, key) => store.delete('transcripts', workflowId, key),
  };
}

export function transcriptsDir(config: Pick<NightshiftConfig, 'root'>): string {
  return path.join(stateDir(config), 'transcripts');
}

export interface FileTranscriptStoreOptions {
  /** Directory holding one subdirectory per workflow. */
  dir: string;
  /** Records kept in memory per process (FileStateStoreOptions.cacheEntries). @default 20000 */
  cacheEntries?: number;
}

/** Transcripts alone in one directory of files (tests and tools that read a transcript directory). */
export class FileTranscriptStore implements TranscriptStore {
  private readonly view: TranscriptStore;

  constructor(private readonly o: FileTranscriptStoreOptions) {
    this.view = transcriptsIn(
      new FileStateStore({ dir: path.dirname(o.dir), dirs: { transcripts: o.dir }, cacheEntries: o.cacheEntries }),
    );
  }

  /** The directory holding `workflowId`'s records (for people reading transcripts). */
  dirFor(workflowId: string): string {
    return path.join(this.o.dir, safeWorkflowDirName(workflowId));
  }

  get(workflowId: string, key: string) {
    return this.view.get(workflowId, key);
  }
  put(workflowId: string, key: string, value: string) {
    return this.view.put(workflowId, key, value);
  }
  putIfAbsent(workflowId: string, key: string, value: string) {
    return this.view.putIfAbsent(workflowId, key, value);
  }
  delete(workflowId: string, key: string) {
    return this.view.delete(workflowId, key);
  }
}

// ---- records ---------------------------------------------------------------------------

/** Written once by prepareAgent: what every model call starts from. */
export interface PromptRecord {
  system: string;
  /** The first user message (the task). */
  firstMessage: string;
}

/** One model response, as the API returned it, plus what it cost. */
export interface TurnRecord {
  turn: number;
  /** The model the API reports having used (`replay:...` for the offline replay model). */
  model: string;
  replay: boolean;
  stopReason: string | null;
  content: Anthropic.ContentBlock[];
  usage: TokenUsage;
  costUsd: number;
  /** True when the model was not in the price table and the worst-case row was charged. */
  costEstimated: boolean;
  /** Tokens the request's context held (input + cache reads + cache writes). */
  contextTokens: number;
  /** Tool results of turns up to this one were elided in the request (model/request.ts fitContext); the next turn keeps them elided. */
  elidedThroughTurn?: number;
  /** Epoch ms the response arrived: the next turn's gap tells whether the 5-minute cache outlived it. */
  respondedAt?: number;
  /** The request's breakpoints were written for an hour; later turns keep that. */
  cacheTtl?: '1h';
  /** The workflow's attempt that got this answer, when the workflow counts attempts. */
  attempt?: number;
}

/** One tool call's result, keyed by (turn, tool_use id). */
export interface ToolRecord {
  toolUseId: string;
  name: string;
  isError: boolean;
  /** What the model sees, already truncated. */
  content: string;
  /** One line for the workflow's status and the report. */
  summary: string;
}

export const keys = {
  prompt: 'prompt.json',
  turn: (turn: number) => `turn-${String(turn).padStart(6, '0')}.json`,
  tool: (turn: number, toolUseId: string) =>
    `turn-${String(turn).padStart(6, '0')}.tool-${toolUseId.replace(/[^A-Za-z0-9_-]/g, '_')}.json`,
  /** An ask_human question as a person reads it (activities/questions/ask-human.ts). */
  question: (turn: number, toolUseId: string) =>
    `turn-${String(turn).padStart(6, '0')}.question-${toolUseId.replace(/[^A-Za-z0-9_-]/g, '_')}.json`,
  /** A note from nightshift (the budget's wrap-up request) sent with turn `turn`'s tool results. */
  note: (turn: number) => `turn-${String(turn).padStart(6, '0')}.note.json`,
  /** The bill of the `seq`th cache keep-alive sent while turn `turn`'s tools ran or its question waited. */
  keepAlive: (turn: number, seq: number) => `turn-${String(turn).padStart(6, '0')}.keepalive-${seq}.json`,
  /** Present while a side-effecting tool runs; left behind only if the worker died during it. */
  toolStarted: (turn: number, toolUseId: string) =>
    `turn-${String(turn).padStart(6, '0')}.tool-${toolUseId.replace(/[^A-Za-z0-9_-]/g, '_')}.started`,
};

export async function getJson<T>(store: TranscriptStore, workflowId: string, key: string): Promise<T | undefined> {
  const v = await store.get(workflowId, key);
  return v === undefined ? undefined : (JSON.parse(v) as T);
}

export function putJson(store: TranscriptStore, workflowId: string, key: string, value: unknown): Promise<void> {
  return store.put(workflowId, key, JSON.stringify(value));
}

/**
 * Writes a record that must be written once (a turn, a tool result, the prompt) unless it
 * exists. @returns the record the store holds: this one, or the one an earlier writer stored.
 */
export async function putJsonOnce<T>(store: TranscriptStore, workflowId: string, key: string, value: T): Promise<T> {
  if (await store.putIfAbsent(workflowId, key, JSON.stringify(value))) return value;
  return (await getJson<T>(store, workflowId, key)) ?? value;
}

/** Sent in place of tool results when the model's last turn called no tool. */
export const CONTINUE_NUDGE =
  'Continue with the task. Use the tools to make and check your changes; when the task is done, call the finish tool with a summary and how you checked it.';

/** A tool call the workflow never ran (the task ended first): the API still needs a result for it. */
const NOT_RUN = 'This tool call was not run.';

/**
 * Rebuilds the conversation that turn `turn` sends: the task, then each earlier turn's
 * assistant message and the results of its tool calls.
 */
export async function loadConversation(
  store: TranscriptStore,
  workflowId: string,
  turn: number,
): Promise<{ prompt: PromptRecord; messages: Anthropic.MessageParam[]; last?: TurnRecord }> {
  const prompt = await getJson<PromptRecord>(store, workflowId, keys.prompt);
  if (!prompt) throw new Error(`no prompt stored for ${workflowId}: prepareAgent must run before callModel`);
  const messages: Anthropic.MessageParam[] = [{ role: 'user', content: [{ type: 'text', text: prompt.firstMessage }] }];
  let last: TurnRecord | undefined;
  for (let t = 1; t < turn; t++) {
    const rec = await getJson<TurnRecord>(store, workflowId, keys.turn(t));
    if (!rec) throw new Error(`transcript of ${workflowId} has no turn ${t} (asked for turn ${turn})`);
    last = rec;
    messages.push({ role: 'assistant', content: rec.content as Anthropic.ContentBlockParam[] });
    const uses = rec.content.filter((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
    const note = await getJson<{ text: string }>(store, workflowId, keys.note(t));
    const noteBlock: Anthropic.TextBlockParam[] = note ? [{ type: 'text', text: note.text }] : [];
    if (uses.length === 0) {
      messages.push({ role: 'user', content: [{ type: 'text', text: CONTINUE_NUDGE }, ...noteBlock] });
      continue;
    }
    const results: (Anthropic.ToolResultBlockParam | Anthropic.TextBlockParam)[] = [];
    for (const u of uses) {
      const r = await getJson<ToolRecord>(store, workflowId, keys.tool(t, u.id));
      results.push({
        type: 'tool_result',
        tool_use_id: u.id,
        content: r?.content ?? NOT_RUN,
        ...(r?.isError || !r ? { is_error: true } : {}),
      });
    }
    messages.push({ role: 'user', content: [...results, ...noteBlock] });
  }
  return { prompt, messages, last };
}
