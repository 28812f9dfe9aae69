/**
 * Writes docs/task-file.md from the task-file schema's `.describe()` texts, so the reference
 * cannot drift from what the loader accepts. Run: `npm run docs:taskfile`.
 * test/unit/docs-sync.test.ts renders it in memory and fails when the committed page differs.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { BatchSettingsShape, TaskFileSchema } from '../taskfile/schema';

export const TASK_FILE_REFERENCE = path.join(__dirname, '..', 'docs', 'task-file.md');

interface JsonSchema {
  type?: string | string[];
  description?: string;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
}

interface Row {
  key: string;
  type: string;
  default: string;
  description: string;
}

// zod writes Number.MAX_SAFE_INTEGER as the maximum of a bare `.int()`: no bound a reader cares about.
const UNBOUNDED = Number.MAX_SAFE_INTEGER;

function typeOf(s: JsonSchema): string {
  if (s.anyOf) return s.anyOf.map(typeOf).join(' or ');
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(', ');
  if (Array.isArray(s.type)) return s.type.join(' or ');
  if (s.type === 'array') return `list of ${s.items ? typeOf(s.items) : 'anything'}`;
  if (s.type === 'integer' || s.type === 'number') {
    const noun = s.type === 'integer' ? 'whole number' : 'number';
    const low =
      (s.minimum !== undefined && s.minimum > -UNBOUNDED ? s.minimum : undefined) ??
      (s.exclusiveMinimum !== undefined ? `more than ${s.exclusiveMinimum}` : undefined);
    const high = s.maximum !== undefined && s.maximum < UNBOUNDED ? s.maximum : undefined;
    if (typeof low === 'number' && high !== undefined) return `${noun} ${low}–${high}`;
    if (low !== undefined && high !== undefined) return `${noun}, ${low}, at most ${high}`;
    if (low !== undefined) return typeof low === 'number' ? `${noun} ≥ ${low}` : `${noun}, ${low}`;
    return high !== undefined ? `${noun} ≤ ${high}` : noun;
  }
  return s.type ?? 'any';
}

/** The describe texts end with "Default: …" where there is one; the table gives it a column. */
function splitDefault(description: string): { text: string; default: string } {
  const m = /^(.*?)\s*Default:?\s+(.+?)\.?$/s.exec(description);
  return m ? { text: m[1], default: m[2] } : { text: description, default: '' };
}

function rowsOf(properties: Record<string, JsonSchema>, prefix: string, skipNested: Set<string>): Row[] {
  const rows: Row[] = [];
  for (const [name, schema] of Object.entries(properties)) {
    const key = `${prefix}${name}`;
    const { text, default: dflt } = splitDefault(schema.description ?? '');
    rows.push({ key, type: schema.properties ? 'object' : typeOf(schema), default: dflt, description: text });
    if (schema.properties && !skipNested.has(key)) rows.push(...rowsOf(schema.properties, `${key}.`, skipNested));
  }
  return rows;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function table(rows: Row[]): string {
  const lines = ['| key | type | default | meaning |', '|---|---|---|---|'];
  for (const r of rows)
    lines.push(`| \`${r.key}\` | ${cell(r.type)} | ${cell(r.default || '—')} | ${cell(r.description)} |`);
  return lines.join('\n');
}

function propertiesOf(schema: z.ZodType): Record<string, JsonSchema> {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return json.properties ?? {};
}

/** Every key without a describe text: the generated page would say nothing about it. */
export function undescribedKeys(): string[] {
  const batch = rowsOf(propertiesOf(z.strictObject(BatchSettingsShape)), '', new Set());
  const task = rowsOf(propertiesOf(TaskFileSchema), '', new Set());
  return [...batch.map((r) => ({ ...r, key: `batch ${r.key}` })), ...task.map((r) => ({ ...r, key: `task ${r.key}` }))]
    .filter((r) => r.description === '')
    .map((r) => r.key);
}

export function renderTaskFileReference(): string {
  const batchRows = rowsOf(propertiesOf(z.strictObject(BatchSettingsShape)), '', new Set());
  const taskRows = rowsOf(propertiesOf(TaskFileSchema), '', new Set());
  return [
    '# Task-file reference',
    '',
    '<!-- Generated from taskfile/schema.ts by `npm run docs:taskfile`; edit the `.describe()` texts there, not this page. -->',
    '',
    'Every key a task file may hold, with its type, its default and what it means. How to',
    'write a night (the formats, examples, validation) is in [Writing a night](writing-a-night.md).',
    'Unknown keys are errors, with a did-you-mean.',
    '',
    '## Batch settings',
    '',
    'At the top of a daily file, or in its `settings:` block (either place takes every setting,',
    'not both). Besides these, a batch file has `tasks:` (at least one task, each with the task',
    'fields below) and may have `settings:`.',
    '',
    table(batchRows),
    '',
    '## Task fields',
    '',
    'Each entry of `tasks:`, or a whole single-task file (folder mode).',
    '',
    table(taskRows),
    '',
  ].join('\n');
}

if (require.main === module) {
  writeFileSync(TASK_FILE_REFERENCE, renderTaskFileReference());
  console.log(`wrote ${path.relative(process.cwd(), TASK_FILE_REFERENCE)}`);
}
