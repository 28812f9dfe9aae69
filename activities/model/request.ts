/**
 * Turns a stored conversation into a Messages API request: prompt-cache breakpoints on
 * the tools, the system prompt and the moving tail, and older tool results elided when
 * the context nears the model's window. Pure functions.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { modelEntry, type Effort } from '../../common/models';
import { TOOL_DEFINITIONS } from '../tools/definitions';

/**
 * The effort setting, for models that take one; nothing for the others (an older model answers
 * an unknown parameter with a 400). Thinking itself is left at each model's default: adaptive
 * or always on for the current family, and its tokens count inside max_tokens.
 */
export function effortParams(model: string, effort: Effort | undefined): { output_config?: { effort: Effort } } {
  return effort && modelEntry(model)?.effort ? { output_config: { effort } } : {};
}

const EPHEMERAL = { type: 'ephemeral' } as const;

/**
 * Breakpoints (the API allows four): the last tool caches the tools; the system prompt
 * caches tools + system; the last block of the newest user message writes this turn's
 * prefix, and the one before it reads what the previous turn wrote.
 */
export function withCacheBreakpoints(system: string, messages: Anthropic.MessageParam[]): { system: Anthropic.TextBlockParam[]; tools: Anthropic.Tool[]; messages: Anthropic.MessageParam[] } {
  const tools = TOOL_DEFINITIONS.map((t, i) => (i === TOOL_DEFINITIONS.length - 1 ? { ...t, cache_control: EPHEMERAL } : t));
  const out = messages.map((m) => ({ ...m, content: typeof m.content === 'string' ? [{ type: 'text' as const, text: m.content }] : [...m.content] }) as Anthropic.MessageParam);
  const userIdx = out.map((m, i) => (m.role === 'user' ? i : -1)).filter((i) => i >= 0);
  for (const i of userIdx.slice(-2)) {
    const blocks = out[i].content as Anthropic.ContentBlockParam[];
    const lastBlock = blocks[blocks.length - 1];
    blocks[blocks.length - 1] = { ...lastBlock, cache_control: EPHEMERAL } as Anthropic.ContentBlockParam;
  }
  return { system: [{ type: 'text', text: system, cache_control: EPHEMERAL }], tools, messages: out };
}

/** Rough token count from characters, for when the API has not told us yet. */
export function estimateTokens(messages: Anthropic.MessageParam[], system: string): number {
  return Math.ceil((JSON.stringify(messages).length + system.length) / 3.5);
}

export const ELIDED_NOTE = (chars: number) =>
  `[older tool output elided to keep the conversation inside the context window: ${chars} characters removed. Run the tool again if you need it.]`;

/**
 * Replaces the content of tool results older than the last `keepTurns` assistant turns
 * with a note. Tool calls and the model's own words are kept, so it knows what it did.
 * @returns the number of results elided.
 */
export function elideOldToolResults(messages: Anthropic.MessageParam[], keepTurns: number): number {
  const assistantIdx = messages.map((m, i) => (m.role === 'assistant' ? i : -1)).filter((i) => i >= 0);
  const cutoff = assistantIdx.length > keepTurns ? assistantIdx[assistantIdx.length - keepTurns] : 0;
  let n = 0;
  for (let i = 0; i < cutoff; i++) {
    const m = messages[i];
    if (m.role !== 'user' || typeof m.content === 'string') continue;
    m.content = m.content.map((b) => {
      if (b.type !== 'tool_result') return b;
      const chars = typeof b.content === 'string' ? b.content.length : JSON.stringify(b.content ?? '').length;
      if (chars < 500) return b;
      n++;
      return { ...b, content: ELIDED_NOTE(chars) };
    });
  }
  return n;
}

export interface ContextLimits {
  contextWindow: number;
  maxTokens: number;
  /** Share of the window past which older results are elided. @default 0.75 */
  elideAt?: number;
  /** Turns whose tool results are always kept in full. @default 4 */
  keepTurns?: number;
}

/** Elides when the last known context size (or the estimate) plus the reply would pass the threshold. */
export function fitContext(messages: Anthropic.MessageParam[], system: string, lastContextTokens: number, limits: ContextLimits): number {
  const threshold = (limits.elideAt ?? 0.75) * limits.contextWindow;
  const size = Math.max(lastContextTokens, estimateTokens(messages, system)) + limits.maxTokens;
  if (size <= threshold) return 0;
  return elideOldToolResults(messages, limits.keepTurns ?? 4);
}
