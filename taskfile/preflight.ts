/**
 * What a valid task file can still get wrong, said before the night instead of by a task
 * that "succeeds" with nothing to show: errors for what cannot work (a local repo that is
 * not there), warnings for what is odd (an agent task with no repo, a context file, plan
 * file or skill that does not exist). `validate` and `start` print both; `start` refuses
 * on errors.
 *
 * Reads the person's own files and repositories on this host; git only reads objects
 * (cat-file), which runs no hooks or filters.
 */
import { existsSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSkill } from '../activities/learning/skills';
import { fileStoreFor, type StateStore } from '../common/store';
import type { SpecIssue } from '../common/errors';
import { nightLogPath } from '../common/night-log-path';
import { isRemoteRepo, repoLocation } from '../common/repo-location';
import { git } from '../sandbox/workspace';
import type { BatchSpec, TaskSpec } from './types';

export interface Preflight {
  errors: SpecIssue[];
  warnings: SpecIssue[];
}

/** The git directory of a local repository (bare, or a work tree's .git), or undefined. */
function gitDirOf(dir: string): string | undefined {
  if (existsSync(path.join(dir, 'HEAD')) && existsSync(path.join(dir, 'objects'))) return dir;
  const dotGit = path.join(dir, '.git');
  return existsSync(dotGit) && statSync(dotGit).isDirectory() ? dotGit : undefined;
}

/** Whether `file` is in the commit the task's workspace starts from (its branch if the repo has it, else HEAD). */
async function inRepo(gitDir: string, task: TaskSpec, file: string): Promise<boolean> {
  const exists = (rev: string) =>
    git(['--git-dir', gitDir, 'cat-file', '-e', `${rev}:${file.replace(/^\.\//, '')}`]).then(
      () => true,
      () => false,
    );
  const branchRev = task.branch ? `refs/heads/${task.branch}` : undefined;
  if (
    branchRev &&
    (await git(['--git-dir', gitDir, 'rev-parse', '--verify', '--quiet', branchRev]).then(
      () => true,
      () => false,
    ))
  )
    return exists(branchRev);
  return exists('HEAD');
}

/** `store`: where learned skills are (NIGHTSHIFT_STORE). @default the `file` store of `root` */
export async function preflight(
  spec: BatchSpec,
  root: string,
  store: StateStore = fileStoreFor({ root }),
): Promise<Preflight> {
  const errors: SpecIssue[] = [];
  const warnings: SpecIssue[] = [];
  if (spec.logFile !== undefined) {
    const where = nightLogPath(spec.logFile, { root, home: os.homedir() });
    if ('error' in where) errors.push({ file: spec.source, path: 'log_file', message: where.error });
  }
  for (const task of spec.tasks) {
    const at = (field: string, message: string) => ({
      file: task.source.file,
      line: task.source.line,
      path: `${task.id}: ${field}`,
      message,
    });
    if (task.command !== undefined) continue;
    if (!task.repo) {
      warnings.push(
        at(
          'context.repo',
          'no repository: the agent works in an empty directory and nothing is delivered (no branch, patch or PR); its files are kept under .nightshift/work/ and the report says where',
        ),
      );
    }
    let gitDir: string | undefined;
    if (task.repo && !isRemoteRepo(task.repo)) {
      const dir = repoLocation(root, task.repo);
      gitDir = existsSync(dir) ? gitDirOf(dir) : undefined;
      if (!existsSync(dir)) errors.push(at('context.repo', `${dir} does not exist`));
      else if (!gitDir) errors.push(at('context.repo', `${dir} is not a git repository`));
    }
    // A remote repository cannot be looked into from here; a local one can.
    const files = [
      ...task.contextFiles.map((f) => ['context.files', f] as const),
      ...(task.planFile ? [['context.plan_file', task.planFile] as const] : []),
    ];
    for (const [field, file] of files) {
      if (!task.repo) warnings.push(at(field, `${file}: there is no repository to read it from`));
      else if (gitDir && !(await inRepo(gitDir, task, file)))
        warnings.push(at(field, `${file} is not in ${task.repo}; the agent is told it is missing`));
    }
    for (const skill of task.skills) {
      if ((await readSkill({ root, store }, skill)) === undefined)
        warnings.push(
          at(
            'skills_required',
            `no skill "${skill}" in skills/ or ${store.hostLocal ? 'skills/learned/' : `the learned skills in ${store.location}`}`,
          ),
        );
    }
  }
  return { errors, warnings };
}
