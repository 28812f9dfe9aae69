/**
 * The activity side of ask_human (workflows/questions/ask-human.ts holds the waiting): record the
 * question as a person reads it, in the transcript store and as the question file
 * agent_questions/<task-id>.md; write the answer as the tool's result; add notes (the
 * budget's wrap-up request) to the next model request. Every write is keyed by workflow
 * ID, turn and tool_use id, so a retry writes the same record once.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type Anthropic from '@anthropic-ai/sdk';
import { ApplicationFailure } from '@temporalio/common';
import type { NightshiftConfig } from '../../common/config';
import type { OpenQuestion, QuestionTimeoutPolicy } from '../../contract';
import { getJson, keys, putJson, type ToolRecord, type TranscriptStore, type TurnRecord } from '../task/transcripts';
import { oneLine } from '../task/tools/truncate';
import { answerCommandFor, renderQuestionFile } from '../../common/questions';
import { FailureType } from '../../common/errors';

/** Longest question field kept in workflow history; the file and the store keep it whole. */
const FIELD_CHARS = 3000;

export interface RecordQuestionInput {
  /** The task workflow, which an answer is signalled to. */
  workflowId: string;
  /** Where the run's transcript is kept (workflows/task/messages.ts taskRunKey). @default workflowId */
  storeKey?: string;
  batchId: string;
  taskId: string;
  turn: number;
  toolUseId: string;
  askedAt: number;
  timeoutMs: number;
  onTimeout: QuestionTimeoutPolicy;
}

export function questionsDir(config: Pick<NightshiftConfig, 'root'>): string {
  return path.join(config.root, 'agent_questions');
}

const str = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : undefined);
const cap = (s: string) => (s.length > FIELD_CHARS ? s.slice(0, FIELD_CHARS - 1) + '…' : s);

export function createQuestionActivities(deps: {
  config: Pick<NightshiftConfig, 'root'>;
  transcripts: TranscriptStore;
}) {
  const store = deps.transcripts;
  return {
    /** Reads the ask_human call from the turn's record and records it as a question. */
    async recordQuestion(input: RecordQuestionInput): Promise<OpenQuestion> {
      const { workflowId, turn, toolUseId } = input;
      const storeKey = input.storeKey ?? workflowId;
      const existing = await getJson<OpenQuestion>(store, storeKey, keys.question(turn, toolUseId));
      let q = existing;
      if (!q) {
        const rec = await getJson<TurnRecord>(store, storeKey, keys.turn(turn));
        const use = rec?.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use' && b.id === toolUseId);
        if (!use)
          throw ApplicationFailure.nonRetryable(
            `turn ${turn} of ${workflowId} has no tool call ${toolUseId}`,
            FailureType.TranscriptMissing,
          );
        const i = (use.input ?? {}) as Record<string, unknown>;
        const options = Array.isArray(i.options)
          ? i.options.filter((o): o is string => typeof o === 'string' && o.trim() !== '')
          : str(i.options)
            ? [str(i.options)!]
            : [];
        q = {
          questionId: `${turn}-${toolUseId}`,
          taskId: input.taskId,
          workflowId,
          question: str(i.question) ?? '(the agent asked without a question)',
          ...(str(i.context) ? { context: str(i.context) } : {}),
          ...(options.length ? { options } : {}),
          ...(str(i.impact) ? { impact: str(i.impact) } : {}),
          assumption: str(i.assumption) ?? 'none stated: the agent will use its own judgement',
          askedAt: input.askedAt,
          deadline: input.askedAt + input.timeoutMs,
          onTimeout: input.onTimeout,
          answerCommand: answerCommandFor(input.batchId, input.taskId),
        };
        await putJson(store, storeKey, keys.question(turn, toolUseId), q);
      }
      const dir = questionsDir(deps.config);
      await fs.mkdir(dir, { recursive: true });
      // Whole-file write of a pure rendering: a retry writes the same bytes.
      await fs.writeFile(path.join(dir, `${input.taskId}.md`), renderQuestionFile(q));
      return {
        ...q,
        question: cap(q.question),
        assumption: cap(q.assumption),
        ...(q.context ? { context: cap(q.context) } : {}),
        ...(q.impact ? { impact: cap(q.impact) } : {}),
        ...(q.options ? { options: q.options.slice(0, 10).map((o) => oneLine(o, 300)) } : {}),
      };
    },

    /**
     * Writes the ask_human tool result (the answer, or what to do without one). The first
     * write wins: a retry, or a second answer racing the first, leaves the record as it is.
     */
    async recordAnswer(input: {
      workflowId: string;
      turn: number;
      toolUseId: string;
      content: string;
      summary: string;
    }): Promise<{ chars: number }> {
      const key = keys.tool(input.turn, input.toolUseId);
      const done = await getJson<ToolRecord>(store, input.workflowId, key);
      if (done) return { chars: done.content.length };
      const rec: ToolRecord = {
        toolUseId: input.toolUseId,
        name: 'ask_human',
        isError: false,
        content: input.content,
        summary: input.summary,
      };
      await putJson(store, input.workflowId, key, rec);
      return { chars: input.content.length };
    },

    /** A note sent along with turn `turn`'s tool results in the next request. */
    async addNote(input: { workflowId: string; turn: number; text: string }): Promise<void> {
      await putJson(store, input.workflowId, keys.note(input.turn), { text: input.text });
    },
  };
}
