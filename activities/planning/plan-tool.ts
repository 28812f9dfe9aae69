/**
 * The plan a decomposition produces, and the tool the model must answer through. The
 * tool's JSON schema is generated from the task-file schema (taskfile/schema.ts), so a plan
 * is a task file and there is one schema for both; validation goes through the same
 * loader as `nightshift validate`, DAG checks included.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { z } from 'zod';
import { formatSpecIssue, SpecError, type SpecIssue } from '../../common/errors';
import { parseBatchSpec } from '../../taskfile/load';
import { TaskFileSchema, type TaskFile } from '../../taskfile/schema';
import type { BatchSpec } from '../../taskfile/types';

/** The task-file fields a plan sets; the rest (sandbox, commands, budgets) stay the user's. */
export const PlannedTaskSchema = TaskFileSchema.pick({
  id: true,
  title: true,
  description: true,
  role: true,
  depends_on: true,
  estimated_complexity: true,
  acceptance_criteria: true,
  deliverables: true,
  context_files: true,
  skills_required: true,
}).required({ id: true });

export type PlannedTask = z.infer<typeof PlannedTaskSchema> & Pick<TaskFile, 'context'>;

/** A plan: a task file's `tasks:` plus a line on the approach. */
export interface PlanDraft {
  summary?: string;
  tasks: PlannedTask[];
}

export const PLAN_TOOL_NAME = 'submit_plan';

/** Fields the model must fill even though a hand-written task file may leave them out. */
const REQUIRED_OF_MODEL = [
  'id',
  'title',
  'description',
  'role',
  'depends_on',
  'estimated_complexity',
  'acceptance_criteria',
  'deliverables',
];

export function planTool(maxTasks: number): Anthropic.Tool {
  const task = z.toJSONSchema(PlannedTaskSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete task.$schema;
  return {
    name: PLAN_TOOL_NAME,
    description: 'Submit the plan: the tasks of one night of agent work, in dependency order.',
    input_schema: {
      type: 'object',
      properties: {
        summary: { type: 'string', description: 'One or two sentences on the approach.' },
        tasks: { type: 'array', minItems: 1, maxItems: maxTasks, items: { ...task, required: REQUIRED_OF_MODEL } },
      },
      required: ['tasks'],
      additionalProperties: false,
    },
  };
}

export interface PlanCheck {
  spec?: BatchSpec;
  issues: SpecIssue[];
}

/**
 * Validates a plan as the task file it will become (schema, duplicate ids, unknown
 * dependencies, cycles), plus the planner's own limit on the number of tasks.
 */
export function checkPlan(draft: unknown, o: { maxTasks: number; source?: string }): PlanCheck {
  const source = o.source ?? 'plan';
  const tasks = (draft as { tasks?: unknown } | null)?.tasks;
  const issues: SpecIssue[] = [];
  if (!Array.isArray(tasks)) return { issues: [{ file: source, path: 'tasks', message: 'must be a list of tasks' }] };
  if (tasks.length > o.maxTasks)
    issues.push({
      file: source,
      path: 'tasks',
      message: `has ${tasks.length} tasks; at most ${o.maxTasks} are allowed`,
    });
  // A plan may not smuggle in what only a person should write (commands, sandbox settings, budgets).
  const allowed = new Set([...Object.keys(PlannedTaskSchema.shape), 'context']);
  tasks.forEach((t, i) => {
    if (t && typeof t === 'object' && !Array.isArray(t)) {
      for (const k of Object.keys(t))
        if (!allowed.has(k))
          issues.push({ file: source, path: `tasks[${i}].${k}`, message: `"${k}" is not a field a plan may set` });
    }
  });
  try {
    const spec = parseBatchSpec({ tasks }, source);
    return issues.length ? { issues } : { spec, issues };
  } catch (err) {
    if (err instanceof SpecError) return { issues: [...issues, ...err.issues] };
    throw err;
  }
}

export function describeIssues(issues: SpecIssue[]): string {
  return issues.map((i) => `- ${formatSpecIssue(i)}`).join('\n');
}
