/**
 * Agent-written text (summaries, questions, assumptions, notes) shown in markdown the
 * orchestrator writes: PR bodies and the morning report. The agent is hostile input, so
 * its text must render as text: it cannot hide what follows in an HTML comment, forge a
 * section with a heading, open a code block that swallows the real sections, or load an
 * image from elsewhere.
 */

/**
 * Escapes `text` so it renders as itself: `<` and `>` become entities (no comments, tags,
 * autolinks or block quotes), headings, code fences, setext underlines and thematic
 * breaks at the head of a line are backslash-escaped, as are `![` (images) and `|`
 * (table cells). Lists and emphasis stay: they cannot hide or forge anything.
 */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/&(?=[#A-Za-z0-9]+;)/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|')
    .replace(/!\[/g, '!\\[')
    .split('\n')
    .map((line) =>
      /^\s*([-=_*]\s*)+$/.test(line)
        ? line.replace(/^(\s*)/, '$1\\')
        : // A heading or fence may also open inside list items: `- # Checks`.
          line.replace(/^((?:\s*(?:[-*+]|\d{1,9}[.)])\s+)*\s*)(#|`{3}|~{3})/, '$1\\$2'),
    )
    .join('\n');
}

/** One line of agent text, for list items and table cells. */
export function escapeMarkdownLine(text: string): string {
  return escapeMarkdown(text.replace(/\s*\n\s*/g, ' ').trim());
}

/** Multi-line agent text as a block quote: marked as the agent's, each line escaped. */
export function quoteAgentText(text: string): string {
  return escapeMarkdown(text.trim())
    .split('\n')
    .map((line) => (line ? `> ${line}` : '>'))
    .join('\n');
}
