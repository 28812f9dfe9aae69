/**
 * Review capacity: a night must not bury its reviewers. Each delivered change gets a
 * review-cost summary (size, and whether it touches what needs a careful eye: CI config,
 * dependency manifests, migrations, auth or secrets paths), and each repository gets at
 * most `max_prs_per_repo` pull requests a night; the rest are delivered as a branch and a
 * patch.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { stateDir, type NightshiftConfig } from '../../../common/config';
import type { ReviewCost } from '../../../contract';

const CI =
  /^(\.github\/workflows\/|\.gitlab-ci\.yml$|\.circleci\/|Jenkinsfile$|azure-pipelines\.yml$|\.buildkite\/|\.travis\.yml$|bitbucket-pipelines\.yml$)/;
const DEPENDENCIES =
  /(^|\/)(package\.json|package-lock\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml|requirements[^/]*\.txt|Pipfile(\.lock)?|pyproject\.toml|poetry\.lock|setup\.py|setup\.cfg|go\.mod|go\.sum|Cargo\.toml|Cargo\.lock|Gemfile(\.lock)?|composer\.(json|lock)|pom\.xml|build\.gradle(\.kts)?)$/;
const MIGRATIONS = /(^|\/)(migrations?|migrate|alembic|db\/migrate)\/|\.sql$/i;
const SENSITIVE =
  /(^|\/|[._-])(auth|authn|authz|oauth|login|session|secrets?|credentials?|password|passwd|tokens?|crypto|keys?|permissions?|acl|iam)([._\/-]|$)|\.(pem|key)$|(^|\/)\.env(\.|$)/i;

/** The cost of reviewing a patch: read from the worker's own patch file, as text. */
export function reviewCostOf(patch: string): ReviewCost {
  const files: string[] = [];
  let added = 0;
  let removed = 0;
  for (const line of patch.split('\n')) {
    const header = /^diff --git a\/(.+?) b\/(.+)$/.exec(line);
    if (header) files.push(header[2]);
    // Before the first file: the mail header and its `---` line, not the change.
    else if (files.length === 0) continue;
    else if (line.startsWith('+') && !line.startsWith('+++ ')) added++;
    else if (line.startsWith('-') && !line.startsWith('--- ') && line !== '-- ') removed++;
  }
  const matching = (re: RegExp) => files.filter((f) => re.test(f));
  return {
    files: files.length,
    added,
    removed,
    ci: matching(CI),
    dependencies: matching(DEPENDENCIES),
    migrations: matching(MIGRATIONS),
    sensitive: matching(SENSITIVE),
  };
}

/** One line for a reviewer: how big, and what deserves a careful look. */
export function reviewCostLine(c: ReviewCost): string {
  const flags = [
    ...(c.ci.length ? [`CI config (${c.ci.slice(0, 3).join(', ')})`] : []),
    ...(c.dependencies.length ? [`dependency manifests (${c.dependencies.slice(0, 3).join(', ')})`] : []),
    ...(c.migrations.length ? [`migrations (${c.migrations.slice(0, 3).join(', ')})`] : []),
    ...(c.sensitive.length ? [`auth or secrets paths (${c.sensitive.slice(0, 3).join(', ')})`] : []),
  ];
  return `${c.files} file${c.files === 1 ? '' : 's'}, +${c.added} −${c.removed} lines${flags.length ? `; touches ${flags.join(', ')}` : '; touches no CI config, dependency manifests, migrations or auth/secrets paths'}`;
}

/**
 * The night's PR slots per repository. Kept behind claim() so it can move to another
 * store without touching its callers.
 */
export interface PrSlots {
  /** Idempotent by holder: a holder that has a slot keeps it. */
  claim(o: {
    night: string;
    repo: string;
    holder: string;
    cap: number;
  }): Promise<{ granted: boolean; holders: string[] }>;
}

export function filePrSlots(config: Pick<NightshiftConfig, 'root'>): PrSlots {
  return {
    async claim(o) {
      const dir = path.join(stateDir(config), 'pr-slots', o.night.replace(/[^A-Za-z0-9._-]/g, '_'));
      const file = path.join(dir, `${createHash('sha256').update(o.repo).digest('hex').slice(0, 32)}.json`);
      await fs.mkdir(dir, { recursive: true });
      // mkdir is atomic: the lock keeps two tasks ending at once from both taking the last slot.
      const lock = `${file}.lock`;
      for (let waited = 0; ; waited += 20) {
        try {
          await fs.mkdir(lock);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          // A lock older than a claim can take was left by a worker that died holding it.
          const age = await fs.stat(lock).then(
            (s) => Date.now() - s.mtimeMs,
            () => 0,
          );
          if (age > 30_000) await fs.rm(lock, { recursive: true, force: true });
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      try {
        const holders: string[] = await fs.readFile(file, 'utf8').then(
          (t) => JSON.parse(t) as string[],
          () => [],
        );
        if (holders.includes(o.holder)) return { granted: true, holders };
        if (holders.length >= o.cap) return { granted: false, holders };
        const next = [...holders, o.holder];
        await fs.writeFile(`${file}.tmp`, JSON.stringify(next));
        await fs.rename(`${file}.tmp`, file);
        return { granted: true, holders: next };
      } finally {
        await fs.rm(lock, { recursive: true, force: true });
      }
    },
  };
}

export function createReviewActivities(deps: { config: Pick<NightshiftConfig, 'root'> }) {
  const slots = filePrSlots(deps.config);
  return {
    /** The review cost of a delivered patch (`results/…/<task>.patch`, written by the worker). */
    async reviewCost(input: { patchFile: string }): Promise<ReviewCost | undefined> {
      const abs = path.resolve(deps.config.root, input.patchFile);
      if (!abs.startsWith(path.join(path.resolve(deps.config.root), 'results') + path.sep)) return undefined;
      const text = await fs.readFile(abs, 'latin1').catch(() => undefined);
      return text === undefined ? undefined : reviewCostOf(text);
    },

    /** A PR slot for `holder` (a task's workflow ID) on `repo` this night, or not. */
    async claimPrSlot(input: {
      night: string;
      repo: string;
      holder: string;
      cap: number;
    }): Promise<{ granted: boolean; used: number }> {
      const r = await slots.claim(input);
      return { granted: r.granted, used: r.holders.length };
    },
  };
}
