/**
 * The task-file schema: one zod schema that accepts single-task files (folder mode) and
 * daily files (and a directory of either), written in the files' own
 * snake_case. `taskfile/normalize.ts` turns a parsed file into the BatchSpec the workflows use.
 */
import { z } from 'zod';
import { aliasNames, EFFORTS, isKnownModel } from '../common/models';
import { isSecretEnvName } from '../sandbox/secrets';
import { SANDBOX_PROVIDERS } from '../sandbox/types';
import { NOTIFY_EVENTS } from '../contract';
import { DEFAULTS } from './defaults';

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
/** Lists may be written as one string too (`depends_on: task-001`); taskfile/normalize.ts turns it into a list. */
const stringOrList = z.union([z.string().min(1), stringList], { message: 'must be a string or a list of strings' });

export function asList(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : typeof v === 'string' ? [v] : v;
}

export const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const PrioritySchema = z.union(
  [
    z.number().int().min(0, { message: 'must be 0 or more (lower runs first)' }),
    z.enum(['high', 'normal', 'medium', 'low']),
  ],
  { message: 'must be a number (lower runs first) or one of high, normal, low' },
);

const modelName = z.string().refine(isKnownModel, {
  error: (i) =>
    `unknown model alias "${String(i.input)}"; use ${aliasNames().join(', ')} or a full model ID (claude-...)`,
});

/** Resource bounds of one sandbox (the local provider enforces them; see docs/sandboxes.md, "Sandbox limits"). */
export const SandboxLimitsSchema = z
  .strictObject({
    memory_mb: z
      .number({ message: 'must be a number of MiB' })
      .int({ message: 'must be a whole number of MiB' })
      .min(64, { message: 'must be at least 64' })
      .max(1_048_576, { message: 'must be at most 1048576' })
      .optional()
      .describe(
        "Memory of all the sandbox's processes together, in MiB (RAM, page cache, its /tmp). Past it the command is killed and the agent told. Default 4096.",
      ),
    cpus: z
      .number({ message: 'must be a number of CPUs' })
      .min(0.05, { message: 'must be at least 0.05' })
      .max(1024, { message: 'must be at most 1024' })
      .optional()
      .describe(
        'CPU time the sandbox may use, in CPUs (1.5 = one and a half cores); past it, it is slowed down, not killed. Default 1.',
      ),
    disk_mb: z
      .number({ message: 'must be a number of MiB' })
      .int({ message: 'must be a whole number of MiB' })
      .min(32, { message: 'must be at least 32' })
      .max(10_485_760, { message: 'must be at most 10485760' })
      .optional()
      .describe(
        'Size of the sandbox\'s disk (workspace, HOME and TMPDIR together), in MiB; writes past it fail with "No space left on device". Default 10240 where the worker can make disk volumes (root, loop devices, mkfs.ext4); elsewhere unbounded, which the worker says at start and in the report.',
      ),
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
  .describe("Resource bounds of each sandbox; a task's fields override the batch's one by one.");

export const SandboxSettingsSchema = z
  .strictObject({
    provider: z
      .enum(SANDBOX_PROVIDERS, { message: `must be one of ${SANDBOX_PROVIDERS.join(', ')}` })
      .optional()
      .describe(
        'Where the sandbox runs: `local` (bubblewrap on the worker host), `e2b` (E2B cloud sandboxes, needs `E2B_API_KEY`) or `docker` (a container on a Docker engine). Default: local.',
      ),
    template: z
      .string()
      .optional()
      .describe(
        'The E2B template or Docker image. Default: `E2B_TEMPLATE` (else `base`) for e2b, `node:20-bookworm` for docker.',
      ),
    network_allow: stringList
      .optional()
      .describe("Hosts the sandbox may reach through the worker's allow-listing proxy. Default: none (no network)."),
    env_allow: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must be environment variable names' }))
      .refine((names) => !names.some(isSecretEnvName), {
        error: (i) =>
          `may not name a secret (${(i.input as string[]).filter(isSecretEnvName).join(', ')}): keys and tokens stay in the worker`,
      })
      .optional()
      .describe(
        'Worker environment variables copied into the sandbox; a secret-named variable (keys, tokens) is refused. Default: none.',
      ),
    limits: SandboxLimitsSchema.optional(),
  })
  .describe("Where and how the task's sandbox runs; a task's keys override the batch's.");

const QuestionTimeoutPolicySchema = z.enum(['continue', 'park', 'fail'], {
  message: 'must be one of continue, park, fail',
});

const httpUrl = z.string().regex(/^https?:\/\/\S+$/, { message: 'must be an http(s) URL' });

/** Where notifications go. Secrets (the Telegram bot token) stay in the worker's environment. */
export const NotifySchema = z
  .strictObject({
    events: z
      .array(z.enum(NOTIFY_EVENTS, { message: `must be among ${NOTIFY_EVENTS.join(', ')}` }))
      .optional()
      .describe('Which events are sent. Default: all of them.'),
    telegram: z
      .strictObject({
        chat_id: z
          .union([z.string().min(1), z.number().int()])
          .describe(
            'The chat (or group, as a negative number) questions and events go to; overrides `TELEGRAM_CHAT_ID`.',
          ),
      })
      .optional()
      .describe("Telegram messages through the bot whose token is the worker's `TELEGRAM_BOT_TOKEN`."),
    slack: z
      .strictObject({ webhook_url: httpUrl.describe('A Slack incoming webhook.') })
      .optional()
      .describe("Slack messages; the worker's `NIGHTSHIFT_SLACK_WEBHOOK_URL` adds one."),
    webhook: z
      .strictObject({ url: httpUrl.describe('Where each event is POSTed as JSON.') })
      .optional()
      .describe("A webhook of your own; the worker's `NIGHTSHIFT_WEBHOOK_URL` adds one."),
  })
  .describe(
    "Where notifications go (questions, budget warnings, halts, failures, the end of the batch); the worker's environment adds to it.",
  );

/** Where and how a task's pull request is opened (batch default, task override). */
export const PullRequestSettingsSchema = z
  .strictObject({
    repo: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, { message: 'must be a GitHub repository "owner/name"' })
      .optional()
      .describe('The GitHub repository `owner/name` pull requests go to. Default: parsed from `context.repo`.'),
    labels: stringList.optional().describe('Labels added to the pull request. Default: none.'),
    reviewers: stringList.optional().describe('Reviewers requested on the pull request. Default: none.'),
    draft: z
      .boolean({ message: 'must be true or false' })
      .optional()
      .describe('Open every pull request as a draft. Default: false.'),
    target: z
      .enum(['stacked', 'base'], { message: 'must be stacked or base' })
      .optional()
      .describe(
        "For a task with one dependency: the pull request goes against the dependency's branch (`stacked`) or the base branch (`base`). Default: stacked.",
      ),
  })
  .describe("Where and how the task's pull request is opened; a task's keys replace the batch's key by key.");

/** Acceptance checks run by the orchestrator after `finish` (batch default, task override). */
const checksShape = {
  checks: stringOrList
    .optional()
    .describe(
      "Commands the orchestrator runs in the sandbox after the agent calls `finish`; one string or a list. What is checked is what is delivered. A task's value overrides the batch's. Default: none.",
    ),
  fix_attempts: z
    .number()
    .int()
    .min(0, { message: 'must be 0 or more' })
    .max(20, { message: 'must be at most 20' })
    .optional()
    .describe(
      `Rounds the agent gets to fix failing checks (0–20). A task's value overrides the batch's. Default: ${DEFAULTS.fixAttempts}.`,
    ),
  pull_request: PullRequestSettingsSchema.optional(),
  /** When dependencies' branches conflict: fail the task, or leave the merge to its agent. */
  on_merge_conflict: z
    .enum(['fail', 'agent'], { message: 'must be fail or agent' })
    .optional()
    .describe(
      `When merging several dependencies' branches conflicts: \`fail\` the task naming the files, or leave the merge to the \`agent\`. A task's value overrides the batch's. Default: ${DEFAULTS.onMergeConflict}.`,
    ),
  /** Thresholds of the no-progress guard (workflows/task/progress-guard.ts). */
  no_progress: z
    .strictObject({
      repeats: z
        .number()
        .int()
        .min(2, { message: 'must be 2 or more' })
        .max(100, { message: 'must be at most 100' })
        .optional()
        .describe(
          'The same call with the same result on an unchanged workspace this many times is no progress. Default: 3.',
        ),
      revisits: z
        .number()
        .int()
        .min(1, { message: 'must be 1 or more' })
        .max(100, { message: 'must be at most 100' })
        .optional()
        .describe(
          'Edits that bring the workspace back to a tree it held before, this many times, are no progress (an edit flipped back and forth). Default: 2.',
        ),
      idle_turns: z
        .number()
        .int()
        .min(2, { message: 'must be 2 or more' })
        .max(1000, { message: 'must be at most 1000' })
        .optional()
        .describe('Turns in a row that changed no file and returned nothing not seen before. Default: 6.'),
    })
    .optional()
    .describe(
      "Thresholds of the no-progress guard: the first time one is passed the agent is nudged, the second time the task ends `stuck` with its work kept. A task's keys override the batch's.",
    ),
};

/** Fan-out settings over many repos, at batch level and per task. */
const FanOutShape = {
  parallel: z
    .boolean()
    .optional()
    .describe(
      "`false` runs this task's per-repo copies one at a time. Default: the batch's, else no bound beyond `max_concurrent_agents`.",
    ),
  max_workers: z
    .number()
    .int()
    .min(1)
    .max(1000, { message: 'must be at most 1000' })
    .optional()
    .describe(
      "At most this many per-repo copies of one task run at once, inside `max_concurrent_agents`. Default: the batch's, else no bound.",
    ),
  simple_mode: z
    .boolean()
    .optional()
    .describe(
      "One model call that returns the files to write (the `write_files` tool), no tool loop. Default: the batch's, else false.",
    ),
  /** Simple mode's call through the Message Batches API (half price, may take hours) or the Messages API. */
  model_api: z
    .enum(['batch', 'messages'], { message: 'must be batch or messages' })
    .optional()
    .describe(
      "Simple mode's call through the Message Batches API (`batch`, half price, may take hours) or the Messages API (`messages`); agent tasks always use the Messages API for their turns, and with `batch` their `update_skill` learning goes through the Batches API (falling back to the Messages API, with a note, when the batch gives no skill in time). Default: the batch's, else `batch` when the task's `timeout` leaves an hour to wait, else `messages`.",
    ),
};

/** Which repos a task runs on: at most one of these (checked in taskfile/repos.ts). */
const RepoTargetShape = {
  group: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Run this task once per repo of this group in the repos file (`all` for every repo); at most one of `group`, `tag`, `repos`, `repo_names`. Default: none.',
    ),
  tag: z
    .string()
    .min(1)
    .optional()
    .describe('Run this task once per repo with this tag in the repos file. Default: none.'),
  repos: stringList
    .optional()
    .describe('Run this task once per path or URL listed (each named after its last path segment). Default: none.'),
  repo_names: stringList
    .optional()
    .describe('Run this task once per repo of these names in the repos file. Default: none.'),
  ...FanOutShape,
};

export const TaskFileSchema = z.strictObject({
  /** JSON task files may give none: taskfile/load.ts derives one from `name`. */
  id: z
    .string()
    .regex(TASK_ID, {
      message: 'must be letters, digits, ".", "_" or "-" (at most 64), starting with a letter or digit',
    })
    .optional()
    .describe(
      "Letters, digits, `.`, `_`, `-` (at most 64), starting with a letter or digit; unique in the batch; part of the task's workflow ID (`<batchId>/<id>`) and branch. Required, except in a JSON config, where a task without one gets it from its `name` (`Update READMEs` is `update-readmes`).",
    ),
  title: z.string().min(1).optional().describe('One line shown everywhere (status, report, Web UI). Default: the id.'),
  name: z
    .string()
    .min(1)
    .optional()
    .describe('The same as `title`, as the JSON config spells it; a task without `id` gets its ID from it.'),
  description: z
    .string()
    .optional()
    .describe('What to do, in as much detail as a colleague would need. Default: empty.'),
  type: z
    .string()
    .optional()
    .describe(
      'What kind of work it is (`implementation`, `research`, ...); with `module`, it routes the task to a prompt role when `role` names none. Default: none.',
    ),
  role: z
    .string()
    .optional()
    .describe(
      "The prompt's role template: `backend`, `frontend`, `data`, `docs`, `tests`, `devops` or `general` (long names such as `backend-systems-engineer` are matched by their words). Default: chosen from `type`, `module`, title and description by keywords, else `general`.",
    ),
  module: z
    .string()
    .optional()
    .describe(
      'The part of the codebase the task is about; with `type`, it routes the task to a prompt role. Default: none.',
    ),
  priority: PrioritySchema.optional().describe(
    `A number (lower runs first) or \`high\` (1), \`normal\`/\`medium\` (5), \`low\` (9); ties run in file order. Default: the batch's \`priority\`, else ${DEFAULTS.priority}.`,
  ),
  depends_on: stringOrList
    .optional()
    .describe(
      'Task IDs that must succeed first; one ID or a list. When one fails or is cancelled, this task is skipped with the reason. Default: none.',
    ),
  context: z
    .strictObject({
      plan_file: z
        .string()
        .optional()
        .describe('A plan in the repository that the agent reads first (quoted in its prompt). Default: none.'),
      repo: z
        .string()
        .optional()
        .describe(
          'The repository to work on. Remote when it is a URL (`https://...`, `ssh://...`, `file://...`) or scp-like (`git@host:owner/repo`: a colon before any slash), as git decides; anything else is a local path, relative to `NIGHTSHIFT_ROOT` (an `@` in it is fine). Default: none (the agent works in an empty directory and delivers nothing).',
        ),
      branch: z.string().optional().describe('The branch of the repository the task works from.'),
      files: stringList.optional().describe('Files the agent reads first (joins `context_files`). Default: none.'),
    })
    .optional()
    .describe('The repository and branch to work on, a plan to read, and files to read first.'),
  context_files: stringList.optional().describe('Files the agent reads first, quoted in its prompt. Default: none.'),
  skills_required: stringList
    .optional()
    .describe(
      'Skills put in the prompt: `skills/<name>.md`, else the learned skill of that name in the state store (`skills/learned/<name>.md` with the `file` store). Default: none.',
    ),
  /** One skill per task (JSON task files); joins skills_required. */
  skill: z
    .string()
    .min(1)
    .optional()
    .describe('One skill, as the JSON config names it; joins `skills_required`. Default: none.'),
  deliverables: stringList
    .optional()
    .describe('What the task must produce (files, usually); part of what done means. Default: none.'),
  acceptance_criteria: stringOrList.optional().describe('What done means; one string or a list. Default: none.'),
  estimated_complexity: z
    .enum(['low', 'medium', 'high'], { message: 'must be one of low, medium, high' })
    .optional()
    .describe(
      'Picks the model and effort when `agent_config` names none: `low` (haiku, low effort), `medium` (sonnet, medium), `high` (opus, high); also the prior of `nightshift estimate`. Default: medium.',
    ),
  agent_config: z
    .strictObject({
      model: modelName
        .optional()
        .describe(
          '`haiku`, `sonnet`, `opus` or a full model ID (`claude-...`); unknown aliases are errors. Default: by `estimated_complexity`.',
        ),
      effort: z
        .enum(EFFORTS, { message: `must be one of ${EFFORTS.join(', ')}` })
        .optional()
        .describe(
          'How hard the model thinks (`output_config.effort`), sent only to models that take it. Default: by `estimated_complexity` (`low`, `medium`, `high`).',
        ),
      max_turns: z
        .number()
        .int()
        .positive({ message: 'must be a whole number above 0' })
        .optional()
        .describe(`Model turns before the task ends \`incomplete\`, its work kept. Default: ${DEFAULTS.maxTurns}.`),
      max_cost_usd: dollars
        .optional()
        .describe("The task's own budget cap in US dollars. Default: none (the batch's cap applies)."),
    })
    .optional()
    .describe("The agent's model, effort, turn limit and budget."),
  on_completion: z
    .strictObject({
      create_pr: z
        .boolean()
        .optional()
        .describe(
          "Open a pull request for the task's branch; `false` delivers only the branch and a patch. Default: true.",
        ),
      update_skill: z
        .string()
        .optional()
        .describe(
          'When the task succeeds, learn the skill of this name from what the agent did: learned at a confidence of 0.7 or more, else pending until `nightshift skills approve`. Default: none.',
        ),
      trigger_next: stringOrList
        .optional()
        .describe('Tasks that wait for this one: the same as each of them naming it in `depends_on`. Default: none.'),
    })
    .optional()
    .describe('What happens when the task ends.'),
  command: z
    .string()
    .min(1)
    .optional()
    .describe(
      "Run this shell command instead of an agent (deterministic work: codegen, formatting), in the task's sandbox. Default: none (an agent task).",
    ),
  timeout: duration
    .optional()
    .describe(
      `Wall-clock limit for the task: \`90s\`, \`30m\`, \`4h\` or a number of seconds; time spent waiting for an answer or a budget raise is not counted. Default: ${DEFAULTS.taskTimeoutMs / 3_600_000}h.`,
    ),
  question_timeout: duration
    .optional()
    .describe(
      `How long an \`ask_human\` question waits for a person. Default: the batch's, else ${DEFAULTS.questionTimeoutMs / 3_600_000}h.`,
    ),
  on_question_timeout: QuestionTimeoutPolicySchema.optional().describe(
    `When nobody answers in time: \`continue\` on the agent's stated assumption (noted in the report), \`park\` (the task ends \`waiting_for_answer\` with its work kept; its dependents are held) or \`fail\`. Default: the batch's, else ${DEFAULTS.onQuestionTimeout}.`,
  ),
  /** Overrides the batch's sandbox settings for this task. */
  sandbox: SandboxSettingsSchema.optional().describe(
    "This task's overrides of the batch's `sandbox` settings, key by key. Default: the batch's.",
  ),
  ...checksShape,
  /** Run this task once per repo of the batch's repos file (taskfile/repos.ts). */
  ...RepoTargetShape,
  enabled: z
    .boolean()
    .optional()
    .describe('`false` leaves the task out (and the dependency edges to it). Default: true.'),
});

/** Settings a batch file (a daily file) may carry next to its tasks. */
export const BatchSettingsShape = {
  date: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'must be a date YYYY-MM-DD' })
    .optional()
    .describe("The night's date, YYYY-MM-DD. Default: the date in the workflow ID, else today."),
  max_cost_usd: dollars
    .optional()
    .describe(
      `The batch's budget in US dollars; a task about to pass it pauses (\`paused_budget\`) until the budget is raised. Default: ${DEFAULTS.maxCostUsd}.`,
    ),
  /** Cap on the day's spend across all batches (UTC day); the worker's NIGHTSHIFT_DAILY_MAX_COST_USD also applies. */
  daily_max_cost_usd: dollars
    .optional()
    .describe(
      "A cap on everything every batch spends in one UTC day; with the worker's `NIGHTSHIFT_DAILY_MAX_COST_USD` also set, the lower one holds. Default: none.",
    ),
  priority: PrioritySchema.optional().describe(
    `The default priority of the batch's tasks: a number (lower runs first) or \`high\`, \`normal\`/\`medium\`, \`low\`. Default: ${DEFAULTS.priority}.`,
  ),
  max_concurrent_agents: z
    .number()
    .int()
    .min(1)
    .max(1000, { message: 'must be at most 1000' })
    .optional()
    .describe(`Tasks running at once (at most 1000). Default: ${DEFAULTS.maxConcurrentAgents}.`),
  question_timeout: duration
    .optional()
    .describe(
      `How long a question waits for a person: \`8h\`, \`30m\` or a number of seconds. Default: ${DEFAULTS.questionTimeoutMs / 3_600_000}h.`,
    ),
  on_question_timeout: QuestionTimeoutPolicySchema.optional().describe(
    `When nobody answers in time: \`continue\` on the agent's stated assumption, \`park\` or \`fail\`. Default: ${DEFAULTS.onQuestionTimeout}.`,
  ),
  notify: NotifySchema.optional().describe(
    "Where notifications go. Default: only what the worker's environment names.",
  ),
  sandbox: SandboxSettingsSchema.optional().describe(
    "The sandbox settings of every task; a task's `sandbox` overrides them key by key. Default: a local sandbox without network.",
  ),
  ...checksShape,
  /** Review-first mode: nothing is committed; changes wait in a folder for a person. */
  review_first: z
    .boolean({ message: 'must be true or false' })
    .optional()
    .describe(
      "Review-first mode: nothing is committed or pushed and no pull request is opened; each task's changes stay in its work folder with a patch in `results/`, for a person to review and commit. Default: false.",
    ),
  /** Pull requests opened per repository per night; tasks past it deliver a branch and a patch. */
  max_prs_per_repo: z
    .number()
    .int()
    .min(0, { message: 'must be 0 or more' })
    .max(1000, { message: 'must be at most 1000' })
    .optional()
    .describe(
      `Pull requests opened per repository per night; tasks past it deliver a branch and a patch. Default: ${DEFAULTS.maxPrsPerRepo}.`,
    ),
  /** The repos file (name, path or url, group, tags), relative to the file that names it. */
  repos_file: z
    .string()
    .min(1)
    .optional()
    .describe(
      'The repos file (name, path or url, group, tags of each repo), relative to the file that names it. Default: `repos.yaml` (or `repos.yml`, `repos.json`) beside the task file, when there is one.',
    ),
  ...FanOutShape,
  /** What the batch is for. */
  description: z.string().optional().describe('What the batch is for; kept with the batch. Default: none.'),
  /** The run log: each worker appends the night's task events there, as lines (worker/night-log.ts). */
  log_file: z
    .string()
    .min(1)
    .optional()
    .describe(
      "The night's run log: each worker appends the night's task events there, one line each; `~/` is the worker's home, a relative path is under `NIGHTSHIFT_ROOT`. Default: none.",
    ),
};

/** JSON task files put their settings in a `settings:` block; either place takes every setting. */
export const SettingsBlockSchema = z.strictObject(BatchSettingsShape);

export const BatchFileSchema = z.strictObject({
  ...BatchSettingsShape,
  settings: SettingsBlockSchema.optional().describe(
    "Every batch setting, as a block (the JSON config's shape); a setting goes here or at the top, not both.",
  ),
  // Each task is validated on its own with TaskFileSchema, so one bad task does not hide
  // the cross-task problems (unknown dependencies, cycles) of the others.
  tasks: z
    .array(z.unknown())
    .min(1, { message: 'must list at least one task' })
    .describe("The night's tasks, at least one; each takes the task fields."),
});

export type TaskFile = z.infer<typeof TaskFileSchema> & { id: string };
export type BatchFile = z.infer<typeof BatchFileSchema>;
