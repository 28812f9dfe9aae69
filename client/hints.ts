/**
 * The commands the CLI's hints name, spelled so they run where the person is: a hint that
 * says `temporal workflow cancel` when no `temporal` is on PATH, or `nightshift status` when
 * nightshift was never linked, sends them nowhere.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { NIGHTSHIFT_CHECKOUT } from '../common/checkout';
import type { HostSettings, NightshiftConfig } from '../common/config';
import { onPath } from '../common/on-path';

/** A path as one word of a command line to paste. */
const shellWord = (p: string) => (/^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`);

/** Where a hint looks: PATH, and the npm script this run came through. */
type Shell = Pick<HostSettings, 'searchPath' | 'npmScript'>;

/** Connection flags this run was given (`--address H:P`, `--env prod`), which a hint repeats so it reaches the same server. */
let connectionArgs: string[] = [];
/** This run's shell, set with the settings before a command runs; until then hints assume nothing is on PATH. */
let shell: Shell = { searchPath: [] };

export function configureHints(host: Shell, args: string[]): void {
  shell = host;
  connectionArgs = args.map(shellWord);
}

/**
 * `nightshift` when it is on PATH (npm link, a global install). Inside the clone, `npm run
 * nightshift --` when this run came through that script, else `npx nightshift` (which runs
 * the project's own bin there and nowhere else). Elsewhere, node with the bin's full path.
 */
export function nightshiftCommand(host: Shell = shell, cwd = process.cwd()): string {
  return [bareNightshift(host, cwd), ...connectionArgs].join(' ');
}

function bareNightshift(host: Shell, cwd: string): string {
  if (onPath('nightshift', host.searchPath)) return 'nightshift';
  const inClone =
    !path.relative(NIGHTSHIFT_CHECKOUT, cwd).startsWith('..') &&
    !path.isAbsolute(path.relative(NIGHTSHIFT_CHECKOUT, cwd));
  if (inClone) return host.npmScript === 'nightshift' ? 'npm run nightshift --' : 'npx nightshift';
  return `node ${shellWord(path.join(NIGHTSHIFT_CHECKOUT, 'client', 'bin.js'))}`;
}

/** `temporal` when it is on PATH, else the full path of the build scripts/bootstrap.sh made. */
export function temporalCommand(config: Pick<NightshiftConfig, 'temporalCli'>, host: Shell = shell): string {
  if (onPath('temporal', host.searchPath) || !existsSync(config.temporalCli)) return 'temporal';
  return shellWord(config.temporalCli);
}

/** A command line the workflows spell `nightshift ...` (they cannot look at PATH), as it runs here. */
export function runnable(commandLine: string, host: Shell = shell): string {
  return commandLine.replace(/^nightshift /, `${nightshiftCommand(host)} `);
}

/** `0.1.0 (commit 1a2b3c4)`: the package version, and the commit when this is a git checkout. */
export function versionLine(): string {
  const { version } = JSON.parse(readFileSync(path.join(NIGHTSHIFT_CHECKOUT, 'package.json'), 'utf8')) as {
    version: string;
  };
  let commit: string | undefined;
  try {
    commit = execFileSync('git', ['-C', NIGHTSHIFT_CHECKOUT, 'rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    }).trim();
  } catch {
    // not a git checkout (a packed install, the Docker image): the version alone
  }
  const sdk = (
    JSON.parse(readFileSync(require.resolve('@temporalio/client/package.json'), 'utf8')) as { version: string }
  ).version;
  return `${version}${commit ? ` (commit ${commit})` : ''}, Temporal TypeScript SDK ${sdk}`;
}
