/**
 * The CLI as a user starts it: client/bin.js, which runs the JavaScript compiled into dist/.
 * The first call in a test process compiles what changed since the last build (tsc's build
 * mode: about a second when nothing did), so a test never runs a dist/ older than the
 * sources it sits beside. `npm test` compiles before the files run (scripts/bootstrap.sh):
 * two test files compiling the same changed tree at once would write the same files twice.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const REPO = path.join(__dirname, '..', '..');
let built = false;

export function nightshiftBin(): string {
  if (!built) {
    execFileSync(path.join(REPO, 'node_modules', '.bin', 'tsc'), ['-b', 'tsconfig.build.json'], {
      cwd: REPO,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    built = true;
  }
  return path.join(REPO, 'client', 'bin.js');
}
