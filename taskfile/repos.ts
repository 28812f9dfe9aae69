/**
 * Many repos in one night. A repos file lists repos (name, path or url, group,
 * tags); a task names its targets with `group` (`all` for every repo), `tag`, `repos`
 * (paths) or `repo_names`, and is expanded here into one task per repo, `<task>@<repo>`.
 * Problems are appended to `issues` with file, line and field, like every other check.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import type { SpecIssue } from '../common/errors';
import { blankJsonComments, isJsonFile } from './jsonc';
import { formatPath, knownKeysAt, lineOf, type FieldPath } from './locate';
import { didYouMean } from '../common/suggest';
import type { ParsedTask } from './normalize';
import type { BatchFile } from './schema';
import type { TaskSpec } from './types';

export interface Repo {
  /** Unique in the file; the suffix of expanded task IDs and the NightshiftRepo search attribute. */
  name: string;
  /** A clone URL, or a local path relative to NIGHTSHIFT_ROOT (or absolute). */
  location: string;
  group?: string;
  tags: string[];
}

export interface RepoSet {
  /** As shown in messages. */
  file: string;
  repos: Repo[];
}

const REPO_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const RepoSchema = z.strictObject({
  name: z.string().regex(REPO_NAME, {
    message: 'must be letters, digits, ".", "_" or "-" (at most 64), starting with a letter or digit',
  }),
  path: z.string().min(1).optional(),
  url: z.string().min(1).optional(),
  group: z.string().min(1).optional(),
  tags: z.array(z.string().min(1)).optional(),
  description: z.string().optional(),
});

const ReposFileSchema = z.strictObject({
  repos: z.array(z.unknown()).min(1, { message: 'must list at least one repo' }),
});

/** The keys that name a task's repos; at most one per task. */
export const TARGET_KEYS = ['group', 'tag', 'repos', 'repo_names'] as const;

type Locate = (p: FieldPath, keyLine?: boolean) => number | undefined;

function schemaIssues(
  error: z.ZodError,
  schema: z.core.$ZodType,
  file: string,
  locate: Locate,
  prefix: FieldPath,
): SpecIssue[] {
  return error.issues.flatMap((issue): SpecIssue[] => {
    const full = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => {
        const hint = didYouMean(key, knownKeysAt(schema, issue.path));
        return {
          file,
          line: locate([...full, key], true),
          path: formatPath([...full, key]),
          message: `unknown key "${key}"${hint ? `; did you mean "${hint}"?` : ''}`,
        };
      });
    }
    const missing = issue.code === 'invalid_type' && issue.input === undefined;
    return [{ file, line: locate(full), path: formatPath(full), message: missing ? 'is required' : issue.message }];
  });
}

/**
 * Reads a repos file. Local paths in it are relative to the file and come back relative to
 * `root` (where the worker clones from), so the file can sit next to the task files.
 */
export async function loadReposFile(
  abs: string,
  root: string,
  shown: string,
  issues: SpecIssue[],
  namedAt: { file: string; line?: number },
): Promise<RepoSet | null> {
  let text: string;
  try {
    text = await fs.readFile(abs, 'utf8');
  } catch {
    issues.push({ ...namedAt, path: 'repos_file', message: `no such repos file: ${shown}` });
    return null;
  }
  const counter = new LineCounter();
  const json = isJsonFile(abs);
  const doc = parseDocument(json ? blankJsonComments(text) : text, {
    lineCounter: counter,
    prettyErrors: false,
    uniqueKeys: true,
  });
  if (doc.errors.length > 0) {
    for (const e of doc.errors)
      issues.push({
        file: shown,
        line: counter.linePos(e.pos[0]).line,
        path: '',
        message: `${json ? 'JSON' : 'YAML'} syntax: ${e.message.split('\n')[0]}`,
      });
    return null;
  }
  const locate: Locate = (p, keyLine) => lineOf(doc, counter, p, keyLine);
  const value: unknown = doc.toJS();
  const top = ReposFileSchema.safeParse(value, { reportInput: true });
  if (!top.success) {
    issues.push(...schemaIssues(top.error, ReposFileSchema, shown, locate, []));
    if (!Array.isArray((value as { repos?: unknown } | null)?.repos)) return null;
  }
  const entries = (value as { repos: unknown[] }).repos;
  const repos: Repo[] = [];
  const firstLine = new Map<string, number | undefined>();
  entries.forEach((entry, i) => {
    const r = RepoSchema.safeParse(entry, { reportInput: true });
    if (!r.success) {
      issues.push(...schemaIssues(r.error, RepoSchema, shown, locate, ['repos', i]));
      return;
    }
    const { name, path: p, url, group, tags } = r.data;
    if ((p === undefined) === (url === undefined)) {
      issues.push({
        file: shown,
        line: locate(['repos', i]),
        path: formatPath(['repos', i]),
        message: `repo "${name}" needs exactly one of path and url`,
      });
      return;
    }
    if (firstLine.has(name)) {
      issues.push({
        file: shown,
        line: locate(['repos', i, 'name']),
        path: formatPath(['repos', i, 'name']),
        message: `duplicate repo name "${name}" (first declared at ${shown}:${firstLine.get(name) ?? '?'})`,
      });
      return;
    }
    if (group === 'all') {
      issues.push({
        file: shown,
        line: locate(['repos', i, 'group']),
        path: formatPath(['repos', i, 'group']),
        message: 'group "all" is reserved: a task with group: all runs on every repo',
      });
    }
    firstLine.set(name, locate(['repos', i, 'name']));
    const location =
      url ?? (path.isAbsolute(p!) ? p! : path.relative(root, path.resolve(path.dirname(abs), p!)) || '.');
    repos.push({ name, location, group, tags: tags ?? [] });
  });
  return { file: shown, repos };
}

/** A repo given by path in the task itself: named after its last path segment. */
function repoAtPath(p: string): Repo {
  const base = path.basename(p.replace(/\/+$/, '').replace(/\.git$/, '')).replace(/[^A-Za-z0-9._-]/g, '-');
  return { name: base || 'repo', location: p, tags: [] };
}

type Settings = Pick<BatchFile, 'parallel' | 'max_workers' | 'simple_mode' | 'model_api'>;

/**
 * `repoSet` is undefined when the batch names no repos file, null when it names one that
 * could not be read (already reported, so targets are not reported again).
 *
 * Expands every task with a repo target into one task per repo, drops `enabled: false`
 * tasks (and the dependency edges to them), sets simple mode, and rewires dependencies:
 * an expanded task depends on its own repo's copy of an expanded dependency when there is
 * one, else on every copy.
 */
export function expandRepoTargets(
  parsed: ParsedTask[],
  tasks: TaskSpec[],
  settings: Settings,
  repoSet: RepoSet | null | undefined,
  issues: SpecIssue[],
): TaskSpec[] {
  const copies = new Map<string, string[]>();
  const out: TaskSpec[] = [];
  tasks.forEach((task, i) => {
    const p = parsed[i];
    const raw = p.raw;
    const at = (field: FieldPath, keyLine = false) => ({
      file: p.file,
      line: p.locate([...p.pathPrefix, ...field], keyLine),
      path: formatPath([...p.pathPrefix, ...field]),
    });
    if (raw.enabled === false) {
      copies.set(task.id, []);
      return;
    }
    const simpleMode = raw.simple_mode ?? settings.simple_mode ?? false;
    const modelApi = raw.model_api ?? settings.model_api;
    if (modelApi) task = { ...task, modelApi };
    const given = TARGET_KEYS.filter((k) => raw[k] !== undefined);
    if (given.length === 0) {
      copies.set(task.id, [task.id]);
      out.push(simpleMode ? { ...task, simpleMode } : task);
      return;
    }
    const key = given[0];
    if (given.length > 1) {
      issues.push({
        ...at([given[1]], true),
        message: `give one of ${TARGET_KEYS.join(', ')}; this task has both "${given[0]}" and "${given[1]}"`,
      });
      return;
    }
    if (raw.context?.repo !== undefined) {
      issues.push({
        ...at(['context', 'repo']),
        message: `a task that runs on repos by "${key}" may not also name context.repo`,
      });
      return;
    }
    const targets = resolveTargets(raw, key, repoSet, at, issues);
    if (!targets) return;
    const names = new Set<string>();
    for (const r of targets) {
      if (names.has(r.name)) {
        issues.push({
          ...at([key]),
          message: `two repos are both named "${r.name}"; list them in the repos file with distinct names`,
        });
        return;
      }
      names.add(r.name);
    }
    const maxWorkers =
      (raw.parallel ?? settings.parallel) === false ? 1 : (raw.max_workers ?? settings.max_workers ?? 1000);
    copies.set(
      task.id,
      targets.map((r) => `${task.id}@${r.name}`),
    );
    for (const r of targets) {
      out.push({
        ...task,
        id: `${task.id}@${r.name}`,
        title: `${task.title} · ${r.name}`,
        repo: r.location,
        repoName: r.name,
        simpleMode,
        fanOut: { of: task.id, maxWorkers },
      });
    }
  });
  return out.map((t) => ({
    ...t,
    dependsOn: t.dependsOn.flatMap((d) => {
      const ids = copies.get(d) ?? [d];
      const own = t.repoName !== undefined ? ids.find((id) => id === `${d}@${t.repoName}`) : undefined;
      return own ? [own] : ids;
    }),
  }));
}

function resolveTargets(
  raw: ParsedTask['raw'],
  key: (typeof TARGET_KEYS)[number],
  repoSet: RepoSet | null | undefined,
  at: (field: FieldPath, keyLine?: boolean) => { file: string; line?: number; path: string },
  issues: SpecIssue[],
): Repo[] | undefined {
  if (key === 'repos') return raw.repos!.map(repoAtPath);
  if (repoSet === null) return undefined;
  if (!repoSet) {
    issues.push({
      ...at([key]),
      message: `"${key}" picks repos from a repos file: put repos.yaml beside the task file or set repos_file in the batch settings`,
    });
    return undefined;
  }
  const all = repoSet.repos;
  if (key === 'group') {
    const g = raw.group!;
    const found = g === 'all' ? all : all.filter((r) => r.group === g);
    if (found.length > 0) return found;
    const groups = [...new Set(all.flatMap((r) => (r.group ? [r.group] : [])))];
    const hint = didYouMean(g, groups);
    issues.push({
      ...at(['group']),
      message: `no repo in group "${g}" in ${repoSet.file}${hint ? `; did you mean "${hint}"?` : ''} (groups: ${['all', ...groups].join(', ')})`,
    });
    return undefined;
  }
  if (key === 'tag') {
    const found = all.filter((r) => r.tags.includes(raw.tag!));
    if (found.length > 0) return found;
    const tags = [...new Set(all.flatMap((r) => r.tags))];
    const hint = didYouMean(raw.tag!, tags);
    issues.push({
      ...at(['tag']),
      message: `no repo tagged "${raw.tag}" in ${repoSet.file}${hint ? `; did you mean "${hint}"?` : ''}`,
    });
    return undefined;
  }
  const byName = new Map(all.map((r) => [r.name, r]));
  const found: Repo[] = [];
  let ok = true;
  raw.repo_names!.forEach((n, j) => {
    const r = byName.get(n);
    if (r) found.push(r);
    else {
      ok = false;
      const hint = didYouMean(n, [...byName.keys()]);
      issues.push({
        ...at(['repo_names', j]),
        message: `unknown repo "${n}" in ${repoSet.file}${hint ? `; did you mean "${hint}"?` : ''}`,
      });
    }
  });
  return ok ? found : undefined;
}
