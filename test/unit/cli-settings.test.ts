/**
 * The CLI with settings it cannot use: help and the version still answer, and a command
 * stops with one line naming the variable (exit 2), never a stack trace. No server: the
 * settings are refused before anything connects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { nightshiftBin } from '../helpers/bin';

const run = promisify(execFile);
const BIN = nightshiftBin();

/** Every one is wrong in a way common/config.ts refuses. */
const BAD_SETTINGS: Record<string, RegExp> = {
  NIGHTSHIFT_UI_PORT: /^nightshift: NIGHTSHIFT_UI_PORT must be a port number from 1 to 65535; got "80a"$/,
  NIGHTSHIFT_STORE:
    /^nightshift: NIGHTSHIFT_STORE must be "file" or a postgres:\/\/.* URL; got "mysql:\/\/\*\*\*@db\/x"$/,
  NIGHTSHIFT_LOG_LEVEL: /^nightshift: NIGHTSHIFT_LOG_LEVEL must be one of TRACE, DEBUG, INFO, WARN, ERROR; got "loud"$/,
  NIGHTSHIFT_MODELS_FILE: /^nightshift: NIGHTSHIFT_MODELS_FILE .*no-such-models\.json: ENOENT/,
};
const BAD_VALUES: Record<string, string> = {
  NIGHTSHIFT_UI_PORT: '80a',
  NIGHTSHIFT_STORE: 'mysql://user:secret@db/x',
  NIGHTSHIFT_LOG_LEVEL: 'loud',
  NIGHTSHIFT_MODELS_FILE: '/nonexistent/no-such-models.json',
};

function nightshift(args: string[], env: Record<string, string>) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-settings-'));
  // NIGHTSHIFT_DEBUG is the one switch that asks for stacks; a runner's own must not leak in.
  const { NIGHTSHIFT_DEBUG: _debug, ...inherited } = process.env;
  return run(process.execPath, [BIN, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...inherited, NIGHTSHIFT_ROOT: root, ...env },
  });
}

/** The exit code and output of a run that is expected to fail. */
async function failing(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    await nightshift(args, env);
  } catch (err) {
    return err as { code: number; stdout: string; stderr: string };
  }
  throw new Error(`nightshift ${args.join(' ')} succeeded with ${JSON.stringify(env)}`);
}

for (const name of Object.keys(BAD_SETTINGS)) {
  test(`--help, <command> --help and --version answer with a bad ${name}`, async () => {
    const env = { [name]: BAD_VALUES[name] };
    const help = await nightshift(['--help'], env);
    assert.match(help.stdout, /^Usage: nightshift \[options\] \[command\]/);
    assert.equal(help.stderr, '');
    const sub = await nightshift(['status', '--help'], env);
    assert.match(sub.stdout, /^Usage: nightshift status \[options\] \[batch\]/);
    const nested = await nightshift(['budget', 'raise', '--help'], env);
    assert.match(nested.stdout, /^Usage: nightshift budget raise \[options\] <batch> <usd>/);
    const version = await nightshift(['--version'], env);
    assert.match(version.stdout, /^nightshift \d+\.\d+\.\d+/);
  });

  test(`a command with a bad ${name} exits 2 with one line naming it, no stack`, async () => {
    // `models` would otherwise succeed without a server, so the setting is all that can stop it.
    const r = await failing(['models'], { [name]: BAD_VALUES[name] });
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], BAD_SETTINGS[name]);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
  });
}

test('the same command with good settings runs: the failure above was the setting', async () => {
  const r = await nightshift(['models', '--json'], {});
  assert.ok((JSON.parse(r.stdout) as { models: unknown[] }).models.length > 0);
});

test('NIGHTSHIFT_DEBUG adds the stack after the line; without it there is none', async () => {
  const plain = await failing(['validate', 'tasks/none.yaml'], {});
  assert.match(plain.stderr, /^nightshift: /);
  assert.doesNotMatch(plain.stderr, /^\s+at /m);
  const debug = await failing(['validate', 'tasks/none.yaml'], { NIGHTSHIFT_DEBUG: '1' });
  assert.equal(debug.code, plain.code);
  assert.match(debug.stderr, /^\s+at /m);
});
