/**
 * "Version B" of nightshift for the deploy tests: a copy of this checkout in a temporary
 * directory outside the repository, with a deliberate nondeterministic change to the agent
 * loop and to the batch (each makes one extra activity call before its first step). A
 * history recorded by today's code cannot replay on it, which is the point.
 */
import { cpSync, mkdtempSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const REPO = path.join(__dirname, '..', '..');

/** The code the deploy tests run; test/, bench/ and local state are left behind. */
const COPIED = [
  'package.json',
  'tsconfig.json',
  'activities',
  'client',
  'common',
  'contract',
  'sandbox',
  'taskfile',
  'workflows',
  'worker',
  'skills',
  'demo',
];

/** A harmless activity call (validating a one-task inline spec) that version A never makes. */
const EXTRA_CALL = `await proxyActivities<Activities>({ startToCloseTimeout: '30 seconds' }).loadBatchSpec({ spec: { tasks: [{ id: 'version-b', command: 'true' }] } });`;

function edit(file: string, anchor: string, insertBefore: string): void {
  const text = readFileSync(file, 'utf8');
  // The anchor is what the change hangs on; a refactor that moves it must move this too.
  if (text.split(anchor).length !== 2) throw new Error(`version B: "${anchor}" is not exactly once in ${file}`);
  writeFileSync(file, text.replace(anchor, `${insertBefore}\n${anchor}`));
}

/** Builds version B and returns its root (worker entry: <root>/worker/main.ts). */
export function buildVersionB(): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-version-b-'));
  for (const entry of COPIED) cpSync(path.join(REPO, entry), path.join(root, entry), { recursive: true });
  symlinkSync(realpathSync(path.join(REPO, 'node_modules')), path.join(root, 'node_modules'));
  edit(path.join(root, 'workflows', 'night', 'batch.ts'), '  const batchId = info.workflowId;', `  ${EXTRA_CALL}`);
  edit(path.join(root, 'workflows', 'task', 'agent-loop.ts'), '      await sandbox.create();', `      ${EXTRA_CALL}`);
  return root;
}

/** The extra activity's marker: a history holding it was made by version B's code. */
export const VERSION_B_MARKER = 'version-b';
