/**
 * The task-file schema: one zod schema that accepts seed 000's single-task files and
 * seed 001's daily files (and a directory of either), written in the files' own
 * snake_case. `normalize.ts` turns a parsed file into the BatchSpec the workflows use.
 */
import { z } from 'zod';
import { aliasNames, EFFORTS, isKnownModel } from '../common/models';
import { isSecretEnvName } from '../sandbox/secrets';
import { NOTIFY_EVENTS } from '../contract';

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "8h", "30m", "90s", or a number of seconds. */
export function parseDuration(v: string | number): number | undefined {
  if (typeof v === 'number') return v > 0 ? v * 1000 : undefined;
  const m = DURATION.exec(v.trim());
  return m ? Number(m[1]) * UNIT_MS[m[2]] : undefined;
}

const duration = z
  .union([z.string(), z.number()])
  .refine((v) => parseDuration(v) !== undefined, { message: 'must be a duration such as "8h", "30m" or "90s"' });

const dollars = z
  .number({ error: (i) => (i.input === undefined ? 'is required' : 'must be a number of US dollars, e.g. 50') })
  .positive({ message: 'must be more than 0 US dollars' })
  .finite();

const stringList = z.array(z.string().min(1));
/** Lists may be written as one string too (`depends_on: task-001`); normalize.ts turns it into a list. */
const stringOrList = z.union([z.string().min(1), stringList], { message: 'must be a string or a list of strings' });

export function asList(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : typeof v === 'string' ? [v] : v;
}

export const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const PrioritySchema = z.union([
  z.number().int().min(0, { message: 'must be 0 or more (lower runs first)' }),
  z.enum(['high', 'normal', 'medium', 'low']),
], { message: 'must be a number (lower runs first) or one of high, normal, low' });

const modelName = z.string().refine(isKnownModel, {
  error: (i) =>
    `unknown model alias "${String(i.input)}"; use ${aliasNames().join(', ')} or a full model ID (claude-...)`,
});

/** Resource bounds of one sandbox (the local provider enforces them; see README, "Sandbox limits"). */
export const SandboxLimitsSchema = z
  .strictObject({
    memory_mb: z
      .number({ message: 'must be a number of MiB' })
      .int({ message: 'must be a whole number of MiB' })
      .min(64, { message: 'must be at least 64' })
      .max(1_048_576, { message: 'must be at most 1048576' })
      .optional()
      .describe('Memory of all the sandbox\'s processes together, in MiB (RAM, page cache, its /tmp). Past it the command is killed and the agent told. Default 4096.'),
    cpus: z
      .number({ message: 'must be a number of CPUs' })
      .min(0.05, { message: 'must be at least 0.05' })
      .max(1024, { message: 'must be at most 1024' })
      .optional()
      .describe('CPU time the sandbox may use, in CPUs (1.5 = one and a half cores); past it, it is slowed down, not killed. Default 1.'),
    disk_mb: z
      .number({ message: 'must be a number of MiB' })
      .int({ message: 'must be a whole number of MiB' })
      .min(32, { message: 'must be at least 32' })
      .max(10_485_760, { message: 'must be at most 10485760' })
      .optional()
      .describe('Size of the sandbox\'s disk (workspace, HOME and TMPDIR together), in MiB; writes past it fail with "No space left on device". Default 10240 where the worker can make disk volumes (root, loop devices, mkfs.ext4); elsewhere unbounded, which the worker says at start and in the report.'),
    open_files: z
      .number({ message: 'must be a number' })
      .int({ message: 'must be a whole number' })
      .min(64, { message: 'must be at least 64' })
      .max(1_048_576, { message: 'must be at most 1048576' })
      .optional()
      .describe('Open files per process in the sandbox (ulimit -n). Default 4096.'),
    processes: z
      .number({ message: 'must be a number' })
      .int({ message: 'must be a whole number' })
      .min(16, { message: 'must be at least 16' })
      .max(1_000_000, { message: 'must be at most 1000000' })
      .optional()
      .describe('Processes and threads of the sandbox at once. Default 512.'),
  })
  .describe('Resource bounds of each sandbox; a task\'s fields override the batch\'s one by one.');

export const SandboxSettingsSchema = z.strictObject({
  provider: z.enum(['local', 'e2b', 'docker'], { message: 'must be one of local, e2b, docker' }).optional(),
  template: z.string().optional(),
  network_allow: stringList.optional(),
  env_allow: z
    .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must be environment variable names' }))
    .refine((names) => !names.some(isSecretEnvName), {
      error: (i) => `may not name a secret (${(i.input as string[]).filter(isSecretEnvName).join(', ')}): keys and tokens stay in the worker`,
    })
    .optional(),
  limits: SandboxLimitsSchema.optional(),
});

const QuestionTimeoutPolicySchema = z.enum(['continue', 'park', 'fail'], { message: 'must be one of continue, park, fail' });

const httpUrl = z.string().regex(/^https?:\/\/\S+$/, { message: 'must be an http(s) URL' });

/** Where notifications go. Secrets (the Telegram bot token) stay in the worker's environment. */
export const NotifySchema = z.strictObject({
  events: z.array(z.enum(NOTIFY_EVENTS, { message: `must be among ${NOTIFY_EVENTS.join(', ')}` })).optional(),
  telegram: z.strictObject({ chat_id: z.union([z.string().min(1), z.number().int()]) }).optional(),
  slack: z.strictObject({ webhook_url: httpUrl }).optional(),
  webhook: z.strictObject({ url: httpUrl }).optional(),
});

/** Where and how a task's pull request is opened (batch default, task override). */
export const PullRequestSettingsSchema = z.strictObject({
  repo: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, { message: 'must be a GitHub repository "owner/name"' }).optional(),
  labels: stringList.optional(),
  reviewers: stringList.optional(),
  draft: z.boolean({ message: 'must be true or false' }).optional(),
  target: z.enum(['stacked', 'base'], { message: 'must be stacked or base' }).optional(),
});

/** Acceptance checks run by the orchestrator after `finish` (batch default, task override). */
const checksShape = {
  checks: stringOrList.optional(),
  fix_attempts: z.number().int().min(0, { message: 'must be 0 or more' }).max(20, { message: 'must be at most 20' }).optional(),
  pull_request: PullRequestSettingsSchema.optional(),
  /** When dependencies' branches conflict: fail the task, or leave the merge to its agent. */
  on_merge_conflict: z.enum(['fail', 'agent'], { message: 'must be fail or agent' }).optional(),
  /** Thresholds of the no-progress guard (workflows/progress-guard.ts). */
  no_progress: z
    .strictObject({
      repeats: z.number().int().min(2, { message: 'must be 2 or more' }).max(100, { message: 'must be at most 100' }).optional(),
      revisits: z.number().int().min(1, { message: 'must be 1 or more' }).max(100, { message: 'must be at most 100' }).optional(),
      idle_turns: z.number().int().min(2, { message: 'must be 2 or more' }).max(1000, { message: 'must be at most 1000' }).optional(),
    })
    .optional(),
};

/** Seed 004's fan-out settings, at batch level and per task. */
const FanOutShape = {
  parallel: z.boolean().optional(),
  max_workers: z.number().int().min(1).max(1000, { message: 'must be at most 1000' }).optional(),
  simple_mode: z.boolean().optional(),
  /** Simple mode's call through the Message Batches API (half price, may take hours) or the Messages API. */
  model_api: z.enum(['batch', 'messages'], { message: 'must be batch or messages' }).optional(),
};

/** Which repos a task runs on: at most one of these (checked in spec/repos.ts). */
const RepoTargetShape = {
  group: z.string().min(1).optional(),
  tag: z.string().min(1).optional(),
  repos: stringList.optional(),
  repo_names: stringList.optional(),
  ...FanOutShape,
};

export const TaskFileSchema = z.strictObject({
  /** Seed 004's tasks have none: load.ts derives one from `name`. */
  id: z.string().regex(TASK_ID, { message: 'must be letters, digits, ".", "_" or "-" (at most 64), starting with a letter or digit' }).optional(),
  title: z.string().min(1).optional(),
  name: z.string().min(1).optional(),
  description: z.string().optional(),
  type: z.string().optional(),
  role: z.string().optional(),
  module: z.string().optional(),
  priority: PrioritySchema.optional(),
  depends_on: stringOrList.optional(),
  context: z
    .strictObject({
      plan_file: z.string().optional(),
      repo: z.string().optional(),
      branch: z.string().optional(),
      files: stringList.optional(),
    })
    .optional(),
  context_files: stringList.optional(),
  skills_required: stringList.optional(),
  /** Seed 004's one skill per task; joins skills_required. */
  skill: z.string().min(1).optional(),
  deliverables: stringList.optional(),
  acceptance_criteria: stringOrList.optional(),
  estimated_complexity: z.enum(['low', 'medium', 'high'], { message: 'must be one of low, medium, high' }).optional(),
  agent_config: z
    .strictObject({
      model: modelName.optional(),
      effort: z.enum(EFFORTS, { message: `must be one of ${EFFORTS.join(', ')}` }).optional(),
      max_turns: z.number().int().positive({ message: 'must be a whole number above 0' }).optional(),
      max_cost_usd: dollars.optional(),
    })
    .optional(),
  on_completion: z
    .strictObject({
      create_pr: z.boolean().optional(),
      update_skill: z.string().optional(),
      trigger_next: stringOrList.optional(),
    })
    .optional(),
  command: z.string().min(1).optional(),
  timeout: duration.optional(),
  question_timeout: duration.optional(),
  on_question_timeout: QuestionTimeoutPolicySchema.optional(),
  /** Overrides the batch's sandbox settings for this task. */
  sandbox: SandboxSettingsSchema.optional(),
  ...checksShape,
  /** Seed 004: run this task once per repo of the batch's repos file (spec/repos.ts). */
  ...RepoTargetShape,
  enabled: z.boolean().optional(),
});

/** Settings a batch file (seed 001) may carry next to its tasks. */
export const BatchSettingsShape = {
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'must be a date YYYY-MM-DD' }).optional(),
  max_cost_usd: dollars.optional(),
  /** Cap on the day's spend across all batches (UTC day); the worker's NIGHTSHIFT_DAILY_MAX_COST_USD also applies. */
  daily_max_cost_usd: dollars.optional(),
  priority: PrioritySchema.optional(),
  max_concurrent_agents: z.number().int().min(1).max(1000, { message: 'must be at most 1000' }).optional(),
  question_timeout: duration.optional(),
  on_question_timeout: QuestionTimeoutPolicySchema.optional(),
  notify: NotifySchema.optional(),
  sandbox: SandboxSettingsSchema.optional(),
  ...checksShape,
  /** Seed 001's review-first mode: nothing is committed; changes wait in a folder for a person. */
  review_first: z.boolean({ message: 'must be true or false' }).optional(),
  /** Pull requests opened per repository per night; tasks past it deliver a branch and a patch. */
  max_prs_per_repo: z.number().int().min(0, { message: 'must be 0 or more' }).max(1000, { message: 'must be at most 1000' }).optional(),
  /** Seed 004's repos file (name, path or url, group, tags), relative to the file that names it. */
  repos_file: z.string().min(1).optional(),
  ...FanOutShape,
  /** What the batch is for (seed 004). */
  description: z.string().optional(),
  /** Seed 004's run log: each worker appends the night's task events there, as lines (worker/night-log.ts). */
  log_file: z.string().min(1).optional(),
};

/** Seed 004 puts its settings in a `settings:` block; either place takes every setting. */
export const SettingsBlockSchema = z.strictObject(BatchSettingsShape);

export const BatchFileSchema = z.strictObject({
  ...BatchSettingsShape,
  settings: SettingsBlockSchema.optional(),
  // Each task is validated on its own with TaskFileSchema, so one bad task does not hide
  // the cross-task problems (unknown dependencies, cycles) of the others.
  tasks: z.array(z.unknown()).min(1, { message: 'must list at least one task' }),
});

export type TaskFile = z.infer<typeof TaskFileSchema> & { id: string };
export type BatchFile = z.infer<typeof BatchFileSchema>;
