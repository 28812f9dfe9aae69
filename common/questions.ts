/**
 * How a question reads to a person: the question file and the notification text.
 * Pure, so the workflow (notifications) and the activity (the file) render it alike.
 */
import type { OpenQuestion } from '../contract';

/** `nightshift answer` with the task (and batch, when not the night's default one). */
export function answerCommandFor(batchId: string, taskId: string): string {
  return `nightshift answer ${taskId} "…" --batch ${batchId}`;
}

/** The question file: Context / Question / Options / Impact, plus the assumption and how to answer. */
export function renderQuestionFile(q: OpenQuestion): string {
  return [
    `# Question from Agent ${q.taskId}`,
    '',
    `Workflow \`${q.workflowId}\` · question \`${q.questionId}\` · asked ${new Date(q.askedAt).toISOString()}`,
    '',
    '## Context',
    q.context ?? '(none given)',
    '',
    '## Question',
    q.question,
    '',
    ...(q.options?.length ? ['## Options', ...q.options, ''] : []),
    ...(q.impact ? ['## Impact', q.impact, ''] : []),
    '## If nobody answers',
    `By ${new Date(q.deadline).toISOString()} the task will ${q.onTimeout === 'continue' ? `go on assuming: ${q.assumption}` : q.onTimeout === 'park' ? 'stop and wait (parked), with its work kept' : 'fail'}.`,
    '',
    '## How to answer',
    `Write agent_questions/${q.taskId}-answer.md and run \`nightshift answer --from-files\`, or run:`,
    '',
    `    ${q.answerCommand}`,
    '',
  ].join('\n');
}

/** The notification body: the same content, shorter. */
export function renderQuestionMessage(q: OpenQuestion): string {
  return [
    q.context ? `Context: ${q.context}` : '',
    `Question: ${q.question}`,
    q.options?.length ? `Options:\n${q.options.map((o) => `  ${o}`).join('\n')}` : '',
    q.impact ? `Impact: ${q.impact}` : '',
    `If nobody answers by ${new Date(q.deadline).toISOString()}: ${q.onTimeout === 'continue' ? `assume ${q.assumption}` : q.onTimeout === 'park' ? 'the task parks' : 'the task fails'}.`,
    `Answer: ${q.answerCommand}`,
  ]
    .filter(Boolean)
    .join('\n');
}
