/**
 * An answer that must come as one call of one tool (the planner's submit_plan, simple mode's
 * write_files, skill learning's record_skill). Models that take forced tool use get
 * `tool_choice: {type: 'tool'}`. The others (common/models.json `forcedToolUse: rejected`,
 * and any model the table does not know) answer a forcing `tool_choice`, `any` included,
 * with a 400, so they are asked with `auto`, the answer is checked, and a model that
 * answered without the tool is asked once more, with its own answer (thinking blocks
 * unmodified) kept in the conversation.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { modelEntry } from '../../common/models';
import { roundUsdNano } from '../../common/money';
import type { TokenUsage } from '../../contract';
import { createMeteredMessage, type MeteredMessage } from './metered';

export interface ToolAnswer extends Omit<MeteredMessage, 'msg'> {
  /** The last response. */
  msg: Anthropic.Message;
  /** The tool call, when the model made it. */
  call?: Anthropic.ToolUseBlock;
  /** The conversation the last response answers (the caller's messages, plus a reminder exchange when one was needed). */
  messages: Anthropic.MessageParam[];
  /** Responses it took (1 or 2). */
  calls: number;
}

/** Whether `tool_choice: {type: 'tool'}` is valid for this model; unknown models are not trusted with it. */
export function acceptsForcedToolUse(model: string): boolean {
  return modelEntry(model)?.forcedToolUse === 'accepted';
}

export const toolReminder = (toolName: string) =>
  `Answer now by calling the ${toolName} tool, once, with your whole answer; reply with nothing else.`;

export async function askForToolCall(
  anthropic: Anthropic,
  params: Omit<Anthropic.MessageCreateParamsNonStreaming, 'tool_choice'>,
  toolName: string,
  o: Parameters<typeof createMeteredMessage>[2] = {},
): Promise<ToolAnswer> {
  const forced = acceptsForcedToolUse(params.model);
  const tool_choice: Anthropic.ToolChoice = forced ? { type: 'tool', name: toolName } : { type: 'auto' };
  let messages = params.messages;
  const answers: MeteredMessage[] = [];
  for (;;) {
    const m = await createMeteredMessage(anthropic, { ...params, messages, tool_choice }, o);
    answers.push(m);
    const call = m.msg.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use' && b.name === toolName);
    if (call || forced || answers.length === 2) return summed(answers, call, messages);
    messages = [
      ...messages,
      // Sent back exactly as it came: thinking blocks must keep their signatures.
      { role: 'assistant', content: m.msg.content as Anthropic.ContentBlockParam[] },
      { role: 'user', content: toolReminder(toolName) },
    ];
  }
}

function summed(
  answers: MeteredMessage[],
  call: Anthropic.ToolUseBlock | undefined,
  messages: Anthropic.MessageParam[],
): ToolAnswer {
  const last = answers[answers.length - 1];
  const usage: TokenUsage = { input: 0, output: 0, cacheWrite: 0, cacheRead: 0 };
  for (const a of answers) for (const k of Object.keys(usage) as (keyof TokenUsage)[]) usage[k] += a.usage[k] ?? 0;
  return {
    msg: last.msg,
    call,
    messages,
    calls: answers.length,
    model: last.model,
    replay: last.replay,
    usage,
    costUsd: roundUsdNano(answers.reduce((s, a) => s + a.costUsd, 0)),
    costEstimated: answers.some((a) => a.costEstimated),
  };
}
