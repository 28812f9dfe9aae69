/**
 * What the CLI loads for commands that run no worker and reach no server: not the worker
 * SDK, the Temporal client, the model SDK or the database driver; and, compiled into dist/
 * as the bin runs it, no TypeScript compiler at all. Their cost is measured in
 * BENCHMARKS.md; this keeps a new top-level import from bringing it back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { nightshiftBin } from '../helpers/bin';

const run = promisify(execFile);
const REPO = path.join(__dirname, '..', '..');

/** Runs the bin in-process, and prints the packages it loaded as its last line of stderr. */
const PROBE = `
process.on('exit', () => {
  const packages = new Set();
  for (const file of Object.keys(require.cache)) {
    const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(file);
    if (m) packages.add(m[1]);
  }
  process.stderr.write('\\nloaded: ' + JSON.stringify([...packages].sort()) + '\\n');
});
process.argv = ['node', 'nightshift', ...process.argv.slice(1)];
require(${JSON.stringify(nightshiftBin())});
`;

const HEAVY = ['@temporalio/worker', '@temporalio/client', '@anthropic-ai/sdk', 'pg', 'octokit', 'e2b', 'dockerode'];
/** What compiling TypeScript at run time would load. */
const COMPILERS = ['tsx', 'esbuild', 'typescript', '@swc/core'];

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
    assert.deepEqual(
      loaded.filter((p) => HEAVY.includes(p)),
      [],
    );
    assert.deepEqual(
      loaded.filter((p) => COMPILERS.includes(p)),
      [],
    );
  });
}

test('a command that talks to Temporal does load its client: the probe sees what a command needs', async () => {
  // Nothing listens on port 1; the command loads the client, tries, and fails fast.
  const loaded = await loadedBy(['--address', '127.0.0.1:1', 'status']);
  assert.ok(loaded.includes('@temporalio/client'), loaded.join(', '));
  // What starting a night needs (the validator, the state store's driver) is not what status needs.
  assert.deepEqual(
    loaded.filter((p) => ['@temporalio/worker', '@anthropic-ai/sdk', 'pg', 'yaml', 'zod'].includes(p)),
    [],
  );
});

test('the bin of a clone that was never built says, in one line, how to build it', async () => {
  // A copy of the bin in a tree with no dist/: what a clone looks like before `npm install`.
  const clone = mkdtempSync(path.join(os.tmpdir(), 'nightshift-unbuilt-'));
  mkdirSync(path.join(clone, 'client'));
  copyFileSync(path.join(REPO, 'client', 'bin.js'), path.join(clone, 'client', 'bin.js'));
  const failed = await run(process.execPath, [path.join(clone, 'client', 'bin.js'), '--help'], { encoding: 'utf8' })
    .then(
      () => assert.fail('the unbuilt bin exited 0'),
      (err: { code: number; stdout: string; stderr: string }) => err,
    )
    .finally(() => rmSync(clone, { recursive: true, force: true }));
  assert.equal(failed.code, 1);
  assert.equal(failed.stdout, '');
  assert.equal(
    failed.stderr,
    `nightshift: not built (no dist/client/cli.js); run npm install or npm run build in ${clone}\n`,
  );
});
