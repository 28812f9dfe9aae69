/**
 * Turns a stored conversation into a Messages API request: prompt-cache breakpoints on
 * the tools, the system prompt and the moving tail, and older tool results elided when
 * the context nears the model's window. Pure functions.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { modelEntry, type Effort } from '../../common/models';
import { TOOL_DEFINITIONS } from '../task/tools/definitions';

/**
 * The effort setting, for models that take one; nothing for the others (an older model answers
 * an unknown parameter with a 400). Thinking itself is left at each model's default: adaptive
 * or always on for the current family, and its tokens count inside max_tokens.
 */
export function effortParams(model: string, effort: Effort | undefined): { output_config?: { effort: Effort } } {
  return effort && modelEntry(model)?.effort ? { output_config: { effort } } : {};
}

/**
 * Breakpoints (the API allows four): the last tool caches the tools; the system prompt
 * caches tools + system; the last block of the newest user message writes this turn's
 * prefix, and the one before it reads what the previous turn wrote. `ttl: '1h'` writes them
 * for an hour (at a higher write price) for conversations whose turns are minutes apart.
 */
export function withCacheBreakpoints(
  system: string,
  messages: Anthropic.MessageParam[],
  o: { ttl?: '5m' | '1h' } = {},
): { system: Anthropic.TextBlockParam[]; tools: Anthropic.Tool[]; messages: Anthropic.MessageParam[] } {
  const EPHEMERAL: Anthropic.CacheControlEphemeral =
    o.ttl === '1h' ? { type: 'ephemeral', ttl: '1h' } : { type: 'ephemeral' };
  const tools = TOOL_DEFINITIONS.map((t, i) =>
    i === TOOL_DEFINITIONS.length - 1 ? { ...t, cache_control: EPHEMERAL } : t,
  );
  const out = messages.map(
    (m) =>
      ({
        ...m,
        content: typeof m.content === 'string' ? [{ type: 'text' as const, text: m.content }] : [...m.content],
      }) as Anthropic.MessageParam,
  );
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

export interface ContextLimits {
  contextWindow: number;
  maxTokens: number;
  /** Share of the window past which older results are elided. @default 0.75 */
  elideAt?: number;
  /** Share of the window elision brings the context down to, so it does not run again for many turns. @default 0.5 */
  elideTo?: number;
  /** Turns whose tool results are always kept in full. @default 4 */
  keepTurns?: number;
}

/**
 * Elides the large tool results answering assistant turns 1..`throughTurn` (the k-th
 * assistant message is turn k). @returns the number of results elided.
 */
export function elideThrough(messages: Anthropic.MessageParam[], throughTurn: number): number {
  let turn = 0;
  let n = 0;
  for (const m of messages) {
    if (m.role === 'assistant') turn++;
    else if (turn >= 1 && turn <= throughTurn && typeof m.content !== 'string') {
      m.content = m.content.map((b) => {
        if (b.type !== 'tool_result') return b;
        const chars = typeof b.content === 'string' ? b.content.length : JSON.stringify(b.content ?? '').length;
        if (chars < 500) return b;
        n++;
        return { ...b, content: ELIDED_NOTE(chars) };
      });
    }
  }
  return n;
}

export interface ContextFit {
  /** Results elided in this request. */
  elided: number;
  /** Results of turns up to this one are elided; the next turn starts from it (TurnRecord.elidedThroughTurn). */
  elidedThroughTurn: number;
}

/**
 * Keeps the conversation inside the window without rewriting its prefix every turn. What
 * earlier turns elided stays elided (`elidedThroughTurn`, carried in the turn record), so the
 * request's prefix is byte-identical and read from the prompt cache. Only when the context plus
 * the reply would pass `elideAt` of the window are more turns elided, oldest first, until it is
 * back under `elideTo`: one cache write, then many turns of reads, instead of a new prefix (and
 * a full cache write) on every turn past the threshold.
 */
export function fitContext(
  messages: Anthropic.MessageParam[],
  system: string,
  lastContextTokens: number,
  limits: ContextLimits,
  elidedThroughTurn = 0,
): ContextFit {
  let elided = elideThrough(messages, elidedThroughTurn);
  const now = estimateTokens(messages, system);
  // The API counted the previous request (this one without its newest exchange): its figure
  // plus what was added since is the best size, and its ratio to our estimate converts freed characters.
  const previous = estimateTokens(messages.slice(0, -2), system);
  const size = Math.max(now, lastContextTokens + (now - previous));
  const ratio = lastContextTokens > 0 && previous > 0 ? Math.max(1, lastContextTokens / previous) : 1;
  if (size + limits.maxTokens <= (limits.elideAt ?? 0.75) * limits.contextWindow) return { elided, elidedThroughTurn };
  const turns = messages.filter((m) => m.role === 'assistant').length;
  const lastElidable = turns - (limits.keepTurns ?? 4);
  const target = (limits.elideTo ?? 0.5) * limits.contextWindow;
  let through = elidedThroughTurn;
  let freed = 0;
  while (through < lastElidable && size - freed * ratio + limits.maxTokens > target) {
    through++;
    const before = estimateTokens(messages, system);
    elided += elideThrough(messages, through);
    freed += before - estimateTokens(messages, system);
  }
  return { elided, elidedThroughTurn: through };
}
