/**
 * The agent's tools as the Messages API sees them. Names are part of the public contract
 * (design.md): read_file, write_file, edit_file, list_files, search, bash, ask_human, finish.
 */
import type Anthropic from '@anthropic-ai/sdk';

export const TOOL_NAMES = [
  'read_file',
  'write_file',
  'edit_file',
  'list_files',
  'search',
  'bash',
  'ask_human',
  'finish',
] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

const path = { type: 'string', description: 'Path relative to the workspace root.' } as const;

export const TOOL_DEFINITIONS: Anthropic.Tool[] = [
  {
    name: 'read_file',
    description:
      'Read a text file from the workspace. Long files are cut in the middle; use offset and limit (line numbers) to read a part.',
    input_schema: {
      type: 'object',
      properties: {
        path,
        offset: { type: 'integer', description: 'First line to return, 1-based.' },
        limit: { type: 'integer', description: 'Number of lines to return.' },
      },
      required: ['path'],
    },
  },
  {
    name: 'write_file',
    description: 'Create or overwrite a file in the workspace with the given content. Parent directories are created.',
    input_schema: { type: 'object', properties: { path, content: { type: 'string' } }, required: ['path', 'content'] },
  },
  {
    name: 'edit_file',
    description:
      'Replace one exact occurrence of old_text with new_text in a file. old_text must match exactly once (include surrounding lines to make it unique); set replace_all to replace every occurrence.',
    input_schema: {
      type: 'object',
      properties: {
        path,
        old_text: { type: 'string' },
        new_text: { type: 'string' },
        replace_all: { type: 'boolean' },
      },
      required: ['path', 'old_text', 'new_text'],
    },
  },
  {
    name: 'list_files',
    description: 'List files and directories under a path (default: the workspace root), to the given depth.',
    input_schema: {
      type: 'object',
      properties: { path, depth: { type: 'integer', description: 'Levels to descend. Default 2.' } },
    },
  },
  {
    name: 'search',
    description:
      'Search file contents in the workspace with a regular expression (ripgrep syntax). Returns matching lines with file and line number.',
    input_schema: {
      type: 'object',
      properties: {
        pattern: { type: 'string' },
        path: { type: 'string', description: 'Directory or file to search. Default: the workspace root.' },
        glob: { type: 'string', description: 'Only files matching this glob, e.g. "*.ts".' },
        ignore_case: { type: 'boolean' },
      },
      required: ['pattern'],
    },
  },
  {
    name: 'bash',
    description:
      'Run a shell command in the workspace (tests, builds, linters). Output is capped, keeping head and tail. Do not stage, commit or push with git, and do not run database migrations.',
    input_schema: {
      type: 'object',
      properties: {
        command: { type: 'string' },
        timeout_seconds: { type: 'integer', description: 'Default 300, at most 1800.' },
      },
      required: ['command'],
    },
  },
  {
    name: 'ask_human',
    description:
      "Ask the person who owns this task a question you cannot answer from the repository. They read it hours later without the transcript, so make it self-contained: what you found and tried, the options, what the choice affects, and what you will assume if nobody answers. Their answer is this tool's result.",
    input_schema: {
      type: 'object',
      properties: {
        context: { type: 'string', description: 'What you are doing and what you found or tried, with file paths.' },
        question: { type: 'string', description: 'The decision you need, in one or two sentences.' },
        options: {
          type: 'array',
          items: { type: 'string' },
          description: 'The choices you see, e.g. "A) pattern from weddings module".',
        },
        impact: { type: 'string', description: 'What the choice affects.' },
        assumption: { type: 'string', description: 'What you will do if nobody answers in time.' },
      },
      required: ['context', 'question', 'assumption'],
    },
  },
  {
    name: 'finish',
    description: 'End the task. Call it once the work is done and checked.',
    input_schema: {
      type: 'object',
      properties: {
        summary: { type: 'string', description: 'What you changed and why.' },
        verification: { type: 'string', description: 'How you checked it: the commands you ran and their results.' },
      },
      required: ['summary', 'verification'],
    },
  },
];
