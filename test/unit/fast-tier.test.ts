/**
 * test/unit/ is the fast tier (`npm run test:fast`): a test lands there only if it needs no
 * Temporal server, no PostgreSQL and no sandbox. The path is the promise, so a file that
 * reaches for one of them through its imports is named here, and belongs in its feature's folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

const TEST_ROOT = path.join(__dirname, '..');

/** What a file may not use, by the module it imports (resolved from test/) or a name it calls. */
const SLOW_MODULES: Record<string, string> = {
  'helpers/temporal': 'a dev server',
  'helpers/cli': 'a dev server and a worker',
  'helpers/batch': 'a dev server',
  'helpers/worker-process': 'a worker process',
  'helpers/kill-on-activity-worker': 'a worker process',
  'helpers/recovery-night': 'worker processes',
  'helpers/code-version': 'a second checkout for a worker',
  'helpers/replay': 'a replay worker',
  'helpers/postgres': 'PostgreSQL',
  'helpers/cluster': 'a Temporal cluster',
  'helpers/mounts': 'mounted sandbox volumes',
  'fakes/e2b-server': 'local sandboxes under the e2b fake',
  '../sandbox/local': 'a local sandbox',
  '../sandbox/docker': 'a Docker engine',
  '../sandbox/index': 'a sandbox provider',
  '../sandbox/router': 'sandbox providers',
  '../worker': 'a worker',
  '@temporalio/client': 'a Temporal server',
  pg: 'PostgreSQL',
};
const SLOW_NAMES: Record<string, string> = {
  TestWorkflowEnvironment: 'a dev server',
  runReplayHistories: 'a replay worker',
};

/** Why the test file at `file` (a path under test/) does not belong in the fast tier, if it does not. */
function slowNeeds(file: string): string[] {
  const source = readFileSync(path.join(TEST_ROOT, file), 'utf8');
  const needs: string[] = [];
  for (const [, specifier] of source.matchAll(/^import\s+(?!type\b)[^;]*?from\s+'([^']+)'/gms)) {
    const resolved = specifier.startsWith('.') ? path.posix.join(path.posix.dirname(file), specifier) : specifier;
    const hit = Object.keys(SLOW_MODULES).find((m) => resolved === m || resolved === path.posix.normalize(m));
    if (hit) needs.push(`${specifier}: ${SLOW_MODULES[hit]}`);
  }
  for (const [name, why] of Object.entries(SLOW_NAMES))
    if (new RegExp(`\\b${name}\\b`).test(source)) needs.push(`${name}: ${why}`);
  return needs;
}

test('no file in test/unit/ needs a Temporal server, PostgreSQL or a sandbox', () => {
  // This file names what it forbids, so it is the one file not read for those names.
  const files = readdirSync(path.join(TEST_ROOT, 'unit')).filter(
    (f) => f.endsWith('.test.ts') && f !== path.basename(__filename),
  );
  assert.ok(files.length > 30, `test/unit/ holds the fast tier (${files.length} files)`);
  const slow = files
    .map((f) => ({ file: `unit/${f}`, needs: slowNeeds(`unit/${f}`) }))
    .filter((f) => f.needs.length > 0);
  assert.deepEqual(slow, []);
});

test('the check sees what the slower tiers use', () => {
  assert.deepEqual(slowNeeds('store/state-store.test.ts'), ['pg: PostgreSQL', '../helpers/postgres: PostgreSQL']);
  assert.ok(slowNeeds('engine/cli.test.ts').some((n) => /dev server/.test(n)));
  assert.ok(slowNeeds('agent/repo-location.test.ts').some((n) => /local sandbox/.test(n)));
  assert.ok(slowNeeds('sandbox/e2b-wire.test.ts').some((n) => /e2b fake/.test(n)));
  assert.ok(slowNeeds('replay.test.ts').length > 0);
});
