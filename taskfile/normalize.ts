/**
 * Turns validated files into one BatchSpec and runs the checks that span tasks: duplicate
 * IDs, unknown dependencies, cycles. Problems are appended to `issues`, never thrown, so
 * the user sees all of them at once.
 */
import type { SpecIssue } from '../common/errors';
import { findCycle } from '../workflows/night/dag';
import { formatPath, type FieldPath } from './locate';
import { didYouMean } from '../common/suggest';
import { expandRepoTargets, type RepoSet } from './repos';
import { asList, parseDuration, type BatchFile, type TaskFile } from './schema';
import type { BatchSpec, TaskSpec } from './types';
import { NO_SANDBOX_SETTINGS, settingsFromTaskFile } from '../sandbox/settings';
import type { SandboxSettings } from '../sandbox/types';
import { DEFAULTS } from './defaults';
import type { NotifySettings, QuestionTimeoutPolicy } from '../contract';

interface Placed {
  file: string;
  /** Path of this task inside its file: [] for a single-task file, ["tasks", i] in a batch. */
  pathPrefix: FieldPath;
  locate(path: FieldPath, keyLine?: boolean): number | undefined;
}

export interface ParsedTask extends Placed {
  raw: TaskFile;
}

/** A task that failed the schema, kept so its ID and references are still cross-checked. */
export interface InvalidTask extends Placed {
  value: unknown;
}

function notifySettings(n: NonNullable<BatchFile['notify']>): NotifySettings {
  return {
    ...(n.events ? { events: n.events } : {}),
    ...(n.telegram ? { telegram: { chatId: String(n.telegram.chat_id) } } : {}),
    ...(n.slack ? { slack: { webhookUrl: n.slack.webhook_url } } : {}),
    ...(n.webhook ? { webhook: { url: n.webhook.url } } : {}),
  };
}

const NAMED_PRIORITY: Record<string, number> = { high: 1, normal: 5, medium: 5, low: 9 };

function priorityOf(p: number | string | undefined, fallback: number): number {
  if (p === undefined) return fallback;
  return typeof p === 'number' ? p : NAMED_PRIORITY[p];
}

interface TaskDefaults {
  questionTimeoutMs: number;
  onQuestionTimeout: QuestionTimeoutPolicy;
}

type BatchSettings = Omit<BatchFile, 'tasks'>;

function toTask(
  t: ParsedTask,
  batchPriority: number,
  batchSandbox: SandboxSettings,
  d: TaskDefaults,
  batch: BatchSettings,
): TaskSpec {
  const r = t.raw;
  const pr = { ...batch.pull_request, ...r.pull_request };
  return {
    id: r.id,
    title: r.title ?? r.name ?? r.id,
    description: r.description ?? '',
    type: r.type,
    module: r.module,
    role: r.role,
    priority: priorityOf(r.priority, batchPriority),
    complexity: r.estimated_complexity,
    dependsOn: [...new Set(asList(r.depends_on))],
    repo: r.context?.repo,
    branch: r.context?.branch,
    planFile: r.context?.plan_file,
    contextFiles: [...(r.context_files ?? []), ...(r.context?.files ?? [])],
    skills: [...new Set([...(r.skills_required ?? []), ...(r.skill ? [r.skill] : [])])],
    deliverables: r.deliverables ?? [],
    acceptanceCriteria: asList(r.acceptance_criteria),
    model: r.agent_config?.model,
    ...(r.agent_config?.effort ? { effort: r.agent_config.effort } : {}),
    maxTurns: r.agent_config?.max_turns ?? DEFAULTS.maxTurns,
    maxCostUsd: r.agent_config?.max_cost_usd,
    createPr: r.on_completion?.create_pr ?? true,
    updateSkill: r.on_completion?.update_skill,
    triggerNext: asList(r.on_completion?.trigger_next),
    command: r.command,
    timeoutMs: r.timeout !== undefined ? parseDuration(r.timeout)! : DEFAULTS.taskTimeoutMs,
    questionTimeoutMs: r.question_timeout !== undefined ? parseDuration(r.question_timeout)! : d.questionTimeoutMs,
    onQuestionTimeout: r.on_question_timeout ?? d.onQuestionTimeout,
    sandbox: settingsFromTaskFile(r.sandbox, batchSandbox),
    source: { file: t.file, line: t.locate([...t.pathPrefix]) },
    checks: asList(r.checks ?? batch.checks),
    fixAttempts: r.fix_attempts ?? batch.fix_attempts ?? DEFAULTS.fixAttempts,
    pullRequest: {
      repo: pr.repo,
      labels: pr.labels ?? [],
      reviewers: pr.reviewers ?? [],
      draft: pr.draft ?? false,
      target: pr.target ?? 'stacked',
    },
    reviewFirst: batch.review_first ?? false,
    maxPrsPerRepo: batch.max_prs_per_repo ?? DEFAULTS.maxPrsPerRepo,
    onMergeConflict: r.on_merge_conflict ?? batch.on_merge_conflict ?? DEFAULTS.onMergeConflict,
    ...noProgress({ ...batch.no_progress, ...r.no_progress }),
  };
}

/** The guard's thresholds as given (task over batch); the guard fills in its defaults. */
function noProgress(raw: { repeats?: number; revisits?: number; idle_turns?: number }): {
  noProgress?: TaskSpec['noProgress'];
} {
  const set = {
    ...(raw.repeats !== undefined ? { repeats: raw.repeats } : {}),
    ...(raw.revisits !== undefined ? { revisits: raw.revisits } : {}),
    ...(raw.idle_turns !== undefined ? { idleTurns: raw.idle_turns } : {}),
  };
  return Object.keys(set).length ? { noProgress: set } : {};
}

/** The references a task makes, read leniently so invalid tasks can be checked too. */
interface References extends Placed {
  id?: string;
  dependsOn: unknown;
  triggerNext: unknown;
}

function referencesOf(valid: ParsedTask[], invalid: InvalidTask[]): References[] {
  const lenient = invalid.map((t) => {
    const v = (t.value ?? {}) as { id?: unknown; depends_on?: unknown; on_completion?: { trigger_next?: unknown } };
    return {
      ...t,
      id: typeof v.id === 'string' ? v.id : undefined,
      dependsOn: v.depends_on,
      triggerNext: v.on_completion?.trigger_next,
    };
  });
  const ok = valid.map((t) => ({
    ...t,
    id: t.raw.id,
    dependsOn: t.raw.depends_on,
    triggerNext: t.raw.on_completion?.trigger_next,
  }));
  return [...ok, ...lenient].sort(
    (a, b) =>
      (a.locate([...a.pathPrefix]) ?? 0) - (b.locate([...b.pathPrefix]) ?? 0) ||
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0),
  );
}

/** What a caller may add to a load. */
export interface LoadExtras {
  /** Tasks outside these files that a dependency may name (the intake's other task files). */
  knownTaskIds?: string[];
  /**
   * Folder mode (the intake): files arrive over time, so a dependency or trigger_next
   * naming a task not seen yet is not an error; the task waits for it.
   */
  unseenTasksWait?: boolean;
}

function checkReferences(
  refs: References[],
  issues: SpecIssue[],
  known: ReadonlySet<string>,
  unseenTasksWait: boolean,
): void {
  const at = (r: References, field: FieldPath, keyLine = false) => ({
    file: r.file,
    line: r.locate([...r.pathPrefix, ...field], keyLine),
    path: formatPath([...r.pathPrefix, ...field]),
  });
  const first = new Map<string, References>();
  for (const r of refs) {
    if (r.id === undefined) continue;
    const prev = first.get(r.id);
    if (!prev) first.set(r.id, r);
    else {
      const f = at(prev, ['id']);
      issues.push({
        ...at(r, ['id']),
        message: `duplicate task id "${r.id}" (first declared at ${f.file}:${f.line ?? '?'})`,
      });
    }
  }
  const ids = [...first.keys()];
  const check = (r: References, value: unknown, field: FieldPath) => {
    const list = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [];
    list.forEach((id, j) => {
      if (typeof id !== 'string' || first.has(id) || known.has(id) || unseenTasksWait) return;
      // A task is never the one it meant to name.
      const hint = didYouMean(
        id,
        ids.filter((other) => other !== r.id),
      );
      issues.push({
        ...at(r, typeof value === 'string' ? field : [...field, j]),
        message: `unknown task id "${id}"${hint ? `; did you mean "${hint}"?` : ''}`,
      });
    });
  };
  for (const r of refs) {
    check(r, r.dependsOn, ['depends_on']);
    check(r, r.triggerNext, ['on_completion', 'trigger_next']);
  }
}

export function normalizeBatch(
  source: string,
  settings: BatchSettings,
  parsed: ParsedTask[],
  invalid: InvalidTask[],
  issues: SpecIssue[],
  extra: LoadExtras & { repos?: RepoSet | null } = {},
): BatchSpec {
  checkReferences(referencesOf(parsed, invalid), issues, new Set(extra.knownTaskIds), extra.unseenTasksWait ?? false);
  const batchPriority = priorityOf(settings.priority, DEFAULTS.priority);
  const batchSandbox = settingsFromTaskFile(settings.sandbox, NO_SANDBOX_SETTINGS);
  const questionTimeoutMs =
    settings.question_timeout !== undefined ? parseDuration(settings.question_timeout)! : DEFAULTS.questionTimeoutMs;
  const onQuestionTimeout = settings.on_question_timeout ?? DEFAULTS.onQuestionTimeout;
  const tasks = parsed.map((t) =>
    toTask(t, batchPriority, batchSandbox, { questionTimeoutMs, onQuestionTimeout }, settings),
  );

  // trigger_next is the same edge seen from the other end: A triggers X = X depends on A.
  const byId = new Map(tasks.map((t) => [t.id, t]));
  for (const t of tasks) {
    for (const n of t.triggerNext) {
      const target = byId.get(n);
      if (target && !target.dependsOn.includes(t.id)) target.dependsOn.push(t.id);
    }
  }
  const cycle = findCycle(tasks);
  if (cycle) {
    const i = tasks.findIndex((t) => t.id === cycle[0]);
    const p = parsed[i];
    issues.push({
      file: p.file,
      line: p.locate([...p.pathPrefix, 'depends_on']),
      path: formatPath([...p.pathPrefix, 'depends_on']),
      message: `dependency cycle: ${cycle.join(' -> ')}`,
    });
  }

  return {
    source,
    ...(settings.description !== undefined ? { description: settings.description } : {}),
    ...(settings.log_file !== undefined ? { logFile: settings.log_file } : {}),
    date: settings.date,
    maxCostUsd: settings.max_cost_usd ?? DEFAULTS.maxCostUsd,
    ...(settings.daily_max_cost_usd !== undefined ? { dailyMaxCostUsd: settings.daily_max_cost_usd } : {}),
    maxConcurrentAgents: settings.max_concurrent_agents ?? DEFAULTS.maxConcurrentAgents,
    questionTimeoutMs,
    onQuestionTimeout,
    ...(settings.notify ? { notify: notifySettings(settings.notify) } : {}),
    sandbox: batchSandbox,
    tasks: expandRepoTargets(parsed, tasks, settings, extra.repos, issues),
  };
}
