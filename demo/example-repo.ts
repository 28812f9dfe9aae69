/**
 * The tiny repository the demo's agent task works on (tasks/example-agent.yaml), made
 * fresh by the demo so the recorded transcript (tasks/recordings/example.json) fits it.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { NIGHTSHIFT_CHECKOUT } from '../common/checkout';
import { git } from '../sandbox/workspace';
import type { MessagesServer } from './messages-server';
import { startReplayModelServer } from './replay-server';

/** Where tasks/example-agent.yaml expects it, relative to NIGHTSHIFT_ROOT. */
export const EXAMPLE_REPO = '.nightshift/demo/strings';
export const EXAMPLE_RECORDING = 'tasks/recordings/example.json';
export const EXAMPLE_TASK_FILE = 'tasks/example-agent.yaml';

export const EXAMPLE_FILES: Record<string, string> = {
  'README.md': '# strings\n\nSmall string helpers. Run the tests with `npm test` (node --test).\n',
  'package.json':
    JSON.stringify({ name: 'strings', version: '1.0.0', private: true, scripts: { test: 'node --test' } }, null, 2) +
    '\n',
  'src/strings.js': [
    "'use strict';",
    '',
    '/** "hello" -> "Hello" */',
    'function capitalize(text) {',
    '  return text.charAt(0).toUpperCase() + text.slice(1);',
    '}',
    '',
    'module.exports = { capitalize };',
    '',
  ].join('\n'),
  'test/strings.test.js': [
    "'use strict';",
    "const test = require('node:test');",
    "const assert = require('node:assert/strict');",
    "const { capitalize } = require('../src/strings');",
    '',
    "test('capitalize upper-cases the first letter', () => {",
    "  assert.equal(capitalize('hello'), 'Hello');",
    '});',
    '',
  ].join('\n'),
};

/** Creates (or re-creates) the example repository at `dir` with one commit on `main`. */
export async function createExampleRepo(dir: string): Promise<string> {
  await fs.rm(dir, { recursive: true, force: true });
  for (const [rel, text] of Object.entries(EXAMPLE_FILES)) {
    await fs.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await fs.writeFile(path.join(dir, rel), text);
  }
  await git(['init', '--quiet', '--initial-branch=main', dir]);
  await git(['add', '-A'], { cwd: dir });
  await git(
    [
      '-c',
      'user.name=nightshift',
      '-c',
      'user.email=nightshift@localhost',
      'commit',
      '--quiet',
      '-m',
      'strings: capitalize',
    ],
    { cwd: dir },
  );
  return dir;
}

/**
 * Everything the demo needs to run the example agent task offline: the example repository
 * under `root`, and the replay model server. Point the worker's ANTHROPIC_BASE_URL at
 * `url` (and leave ANTHROPIC_API_KEY unset); close it when the night is over.
 */
export async function startOfflineExample(root: string): Promise<MessagesServer> {
  await createExampleRepo(path.join(root, EXAMPLE_REPO));
  return startReplayModelServer(path.join(NIGHTSHIFT_CHECKOUT, EXAMPLE_RECORDING));
}
