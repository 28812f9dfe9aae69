/**
 * Reads task files (a daily file, a single-task file (folder mode), or a directory of
 * them), validates them against the schema, and returns one BatchSpec, or throws a
 * SpecError listing every problem with its file, line and field.
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { SpecError, type SpecIssue } from '../common/errors';
import { blankJsonComments, isJsonFile } from './jsonc';
import { BatchFileSchema, TASK_ID, TaskFileSchema, type BatchFile } from './schema';
import { formatPath, knownKeysAt, lineOf, type FieldPath } from './locate';
import { didYouMean } from '../common/suggest';
import { normalizeBatch, type InvalidTask, type LoadExtras, type ParsedTask } from './normalize';
import { loadReposFile, TARGET_KEYS, type RepoSet } from './repos';
import type { BatchSpec } from './types';

interface ParsedFile {
  settings?: Omit<BatchFile, 'tasks'>;
  /** Line lookup in the file this came from. */
  locate?: Located['locate'];
  tasks: ParsedTask[];
  /** Tasks that failed validation: still checked for duplicate IDs and unknown dependencies. */
  invalid: InvalidTask[];
}

/** Where a parsed value came from, so later checks can point at its line. */
interface Located {
  file: string;
  locate(path: FieldPath, keyLine?: boolean): number | undefined;
}

function zodIssues(error: z.ZodError, schema: z.core.$ZodType, where: Located, prefix: FieldPath): SpecIssue[] {
  return error.issues.flatMap((issue): SpecIssue[] => {
    const full = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(schema, issue.path);
      return issue.keys.map((key) => {
        const hint = didYouMean(key, known);
        return {
          file: where.file,
          line: where.locate([...full, key], true),
          path: formatPath([...full, key]),
          message: `unknown key "${key}"${hint ? `; did you mean "${hint}"?` : ''}`,
        };
      });
    }
    const missing = issue.code === 'invalid_type' && issue.input === undefined;
    // A misspelt choice (`medum`, `dokcer`) gets the same did-you-mean as a misspelt key.
    const choice =
      issue.code === 'invalid_value' && typeof issue.input === 'string'
        ? didYouMean(
            issue.input,
            issue.values.filter((v) => typeof v === 'string'),
          )
        : undefined;
    const message = missing ? 'is required' : `${issue.message}${choice ? `; did you mean "${choice}"?` : ''}`;
    return [{ file: where.file, line: where.locate(full), path: formatPath(full), message }];
  });
}

/** A JSON task file names its tasks and gives no IDs: "Update READMEs" is task update-readmes. */
export function idFromName(name: string): string | undefined {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, 64)
    .replace(/-+$/, '');
  return TASK_ID.test(slug) ? slug : undefined;
}

/** Validates one task; on failure its ID (if readable) is still recorded so others' references to it resolve. */
function parseTask(value: unknown, where: Located, prefix: FieldPath, issues: SpecIssue[], out: ParsedFile): void {
  const r = TaskFileSchema.safeParse(value, { reportInput: true });
  if (r.success) {
    const named = r.data.name ?? r.data.title;
    const id = r.data.id ?? (named !== undefined ? idFromName(named) : undefined);
    if (id !== undefined) {
      out.tasks.push({ raw: { ...r.data, id }, file: where.file, pathPrefix: prefix, locate: where.locate });
      return;
    }
    issues.push({
      file: where.file,
      line: where.locate(prefix),
      path: formatPath([...prefix, 'id']),
      message: 'is required (or a name to make it from)',
    });
  } else issues.push(...zodIssues(r.error, TaskFileSchema, where, prefix));
  out.invalid.push({ value, file: where.file, pathPrefix: prefix, locate: where.locate });
}

/** Validates one parsed document (batch or single task). */
function parseValue(value: unknown, where: Located, issues: SpecIssue[]): ParsedFile | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    issues.push({
      file: where.file,
      line: 1,
      path: '',
      message: 'expected a batch (with tasks:) or a single task (with id:)',
    });
    return undefined;
  }
  const out: ParsedFile = { tasks: [], invalid: [], locate: where.locate };
  if ('tasks' in value || !('id' in value)) {
    const r = BatchFileSchema.safeParse(value, { reportInput: true });
    if (!r.success) issues.push(...zodIssues(r.error, BatchFileSchema, where, []));
    const tasks = (value as { tasks?: unknown }).tasks;
    if (r.success) {
      const { tasks: _tasks, settings: block, ...top } = r.data;
      for (const key of Object.keys(block ?? {})) {
        if (key in top)
          issues.push({
            file: where.file,
            line: where.locate(['settings', key], true),
            path: formatPath(['settings', key]),
            message: `"${key}" is set both in settings and at the top of the file; keep one`,
          });
      }
      out.settings = { ...top, ...block };
    }
    if (Array.isArray(tasks)) tasks.forEach((t, i) => parseTask(t, where, ['tasks', i], issues, out));
    return out;
  }
  parseTask(value, where, [], issues, out);
  return out;
}

/** YAML, or JSON with comments (JSON is YAML once its comments are blanked). */
function parseYaml(text: string, file: string, issues: SpecIssue[]): ParsedFile | undefined {
  const counter = new LineCounter();
  const json = isJsonFile(file);
  const doc: Document = parseDocument(json ? blankJsonComments(text) : text, {
    lineCounter: counter,
    prettyErrors: false,
    uniqueKeys: true,
  });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      issues.push({
        file,
        line: counter.linePos(e.pos[0]).line,
        path: '',
        message: `${json ? 'JSON' : 'YAML'} syntax: ${e.message.split('\n')[0]}`,
      });
    }
    return undefined;
  }
  return parseValue(doc.toJS(), { file, locate: (p, keyLine) => lineOf(doc, counter, p, keyLine) }, issues);
}

/** Relative to root when inside it, so messages read `tasks/2026-11-21.yaml:14`. */
function displayPath(abs: string, root: string): string {
  const rel = path.relative(root, abs);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : abs;
}

export async function loadBatchSpec(input: string, root: string, extras: LoadExtras = {}): Promise<BatchSpec> {
  const abs = path.resolve(root, input);
  const source = displayPath(abs, root);
  const stat = await fs.stat(abs).catch(() => undefined);
  if (!stat) throw new SpecError([{ file: source, path: '', message: 'no such file or directory' }]);

  const files = stat.isDirectory()
    ? (await fs.readdir(abs))
        .filter((f) => /\.ya?ml$/i.test(f))
        .sort()
        .map((f) => path.join(abs, f))
    : [abs];
  if (files.length === 0)
    throw new SpecError([{ file: source, path: '', message: 'the directory holds no .yaml or .yml task files' }]);

  const issues: SpecIssue[] = [];
  const parsed: ParsedFile[] = [];
  const settingsFrom: string[] = [];
  let reposFrom: { file: string; shown: string; line?: number; reposFile: string } | undefined;
  for (const f of files) {
    const name = displayPath(f, root);
    const text = await fs.readFile(f, 'utf8');
    // A repos file may sit among the task files it serves.
    if (stat.isDirectory() && /^repos:/m.test(text) && !/^(tasks|id):/m.test(text)) continue;
    const p = parseYaml(text, name, issues);
    if (!p) continue;
    if (p.settings && Object.keys(p.settings).length > 0) settingsFrom.push(name);
    if (p.settings?.repos_file !== undefined)
      reposFrom = { file: f, shown: name, line: p.locate?.(['repos_file']), reposFile: p.settings.repos_file };
    parsed.push(p);
  }
  if (settingsFrom.length > 1) {
    issues.push({
      file: source,
      path: '',
      message: `batch settings are given in more than one file (${settingsFrom.join(', ')}); keep them in one`,
    });
  }
  // A repos file is named relative to the file that names it; unnamed, it sits beside the tasks.
  const beside =
    !reposFrom &&
    parsed.some((p) => p.tasks.some((t) => TARGET_KEYS.some((k) => k !== 'repos' && t.raw[k] !== undefined)))
      ? reposFileBeside(stat.isDirectory() ? abs : path.dirname(abs))
      : undefined;
  const repos = reposFrom
    ? await reposFileOf(reposFrom.reposFile, path.dirname(reposFrom.file), root, issues, {
        file: reposFrom.shown,
        line: reposFrom.line,
      })
    : beside
      ? await reposFileOf(beside, path.dirname(beside), root, issues, { file: source })
      : undefined;
  return finish(source, parsed, issues, { ...extras, repos });
}

/** The names a repos file beside the task files may have, in the order they are looked for. */
export const REPOS_FILE_NAMES = ['repos.yaml', 'repos.yml', 'repos.json'];

function reposFileBeside(dir: string): string | undefined {
  return REPOS_FILE_NAMES.map((n) => path.join(dir, n)).find((f) => existsSync(f));
}

async function reposFileOf(
  file: string,
  dir: string,
  root: string,
  issues: SpecIssue[],
  namedAt: { file: string; line?: number },
): Promise<RepoSet | null> {
  const abs = path.resolve(dir, file);
  return loadReposFile(abs, root, displayPath(abs, root), issues, namedAt);
}

/** `parseBatchSpec` for workflow input that may name a repos file (relative to NIGHTSHIFT_ROOT). */
export async function parseBatchSpecIn(value: unknown, root: string, source = 'spec'): Promise<BatchSpec> {
  const issues: SpecIssue[] = [];
  const p = parseValue(value, { file: source, locate: () => undefined }, issues);
  const reposFile = p?.settings?.repos_file;
  const repos =
    reposFile !== undefined ? await reposFileOf(reposFile, root, root, issues, { file: source }) : undefined;
  return finish(source, p ? [p] : [], issues, { repos });
}

/** For `{ spec: {...} }` workflow input: the same checks, without line numbers. */
export function parseBatchSpec(value: unknown, source = 'spec'): BatchSpec {
  const issues: SpecIssue[] = [];
  const p = parseValue(value, { file: source, locate: () => undefined }, issues);
  return finish(source, p ? [p] : [], issues);
}

/** Same, for YAML text (used by `nightshift validate -` and tests). */
export function parseBatchYaml(text: string, source: string): BatchSpec {
  const issues: SpecIssue[] = [];
  const p = parseYaml(text, source, issues);
  return finish(source, p ? [p] : [], issues);
}

function finish(
  source: string,
  parsed: ParsedFile[],
  issues: SpecIssue[],
  extra: LoadExtras & { repos?: RepoSet | null } = {},
): BatchSpec {
  const settings = Object.assign({}, ...parsed.map((p) => p.settings ?? {}));
  const spec = normalizeBatch(
    source,
    settings,
    parsed.flatMap((p) => p.tasks),
    parsed.flatMap((p) => p.invalid),
    issues,
    extra,
  );
  if (issues.length > 0) {
    throw new SpecError(
      [...issues].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : (a.line ?? 0) - (b.line ?? 0))),
    );
  }
  return spec;
}
