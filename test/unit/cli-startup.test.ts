/**
 * What the CLI loads for commands that run no worker and reach no server: not the worker
 * SDK, the Temporal client, the model SDK or the database driver. Their cost is measured in
 * BENCHMARKS.md; this keeps a new top-level import from bringing it back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO = path.join(__dirname, '..', '..');

/** Runs the CLI in-process as the bin does, and prints the packages it loaded as its last line of stderr. */
const PROBE = `
require('tsx/cjs/api').register();
process.on('exit', () => {
  const packages = new Set();
  for (const file of Object.keys(require.cache)) {
    const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(file);
    if (m) packages.add(m[1]);
  }
  process.stderr.write('\\nloaded: ' + JSON.stringify([...packages].sort()) + '\\n');
});
require(${JSON.stringify(path.join(REPO, 'client', 'cli.ts'))}).main(['node', 'nightshift', ...process.argv.slice(1)]);
`;

const HEAVY = ['@temporalio/worker', '@temporalio/client', '@anthropic-ai/sdk', 'pg', 'octokit', 'e2b', 'dockerode'];

async function loadedBy(args: string[]): Promise<string[]> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-startup-'));
  mkdirSync(path.join(root, 'tasks'));
  writeFileSync(path.join(root, 'tasks', 'night.yaml'), 'tasks:\n  - id: hello\n    command: echo hello\n');
  const env = { ...process.env, NIGHTSHIFT_ROOT: root, ANTHROPIC_API_KEY: '', ANTHROPIC_BASE_URL: '' };
  let stderr: string;
  try {
    ({ stderr } = await run(process.execPath, ['-e', PROBE, '--', ...args], { cwd: REPO, env, encoding: 'utf8' }));
  } catch (err) {
    ({ stderr } = err as { stderr: string });
  }
  const line = stderr.trimEnd().split('\n').pop() ?? '';
  assert.match(line, /^loaded: /, stderr);
  return JSON.parse(line.slice('loaded: '.length)) as string[];
}

for (const args of [['--help'], ['status', '--help'], ['--version'], ['validate', 'tasks/night.yaml'], ['models']]) {
  test(`nightshift ${args.join(' ')} loads none of ${HEAVY.join(', ')}`, async () => {
    const loaded = await loadedBy(args);
    assert.ok(loaded.includes('commander'), `the probe saw the CLI run: ${loaded.join(', ')}`);
    assert.deepEqual(loaded.filter((p) => HEAVY.includes(p)), []);
  });
}

test('a command that talks to Temporal does load its client: the probe sees what a command needs', async () => {
  // Nothing listens on port 1; the command loads the client, tries, and fails fast.
  const loaded = await loadedBy(['--address', '127.0.0.1:1', 'status']);
  assert.ok(loaded.includes('@temporalio/client'), loaded.join(', '));
  // What starting a night needs (the validator, the state store's driver) is not what status needs.
  assert.deepEqual(loaded.filter((p) => ['@temporalio/worker', '@anthropic-ai/sdk', 'pg', 'yaml', 'zod'].includes(p)), []);
});
