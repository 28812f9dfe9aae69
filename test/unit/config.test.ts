/** Settings read by common/config.ts: the Web UI port, the worker log, and the Temporal config file's default place. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { debugStacks, loadConfig, webUiUrl } from '../../common/config';

/** An environment with none of the runner's Temporal or nightshift settings. */
function bare(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const home = mkdtempSync(path.join(os.tmpdir(), 'nightshift-config-'));
  return { HOME: home, PATH: process.env.PATH, ...extra };
}

test('the Web UI port follows the server port as start-dev picks it, unless NIGHTSHIFT_UI_PORT says otherwise', () => {
  assert.equal(webUiUrl(loadConfig(bare())), 'http://localhost:8233');
  assert.equal(webUiUrl(loadConfig(bare({ TEMPORAL_ADDRESS: '127.0.0.1:7300' }))), 'http://127.0.0.1:8300');
  assert.equal(
    webUiUrl(loadConfig(bare({ TEMPORAL_ADDRESS: '127.0.0.1:7300', NIGHTSHIFT_UI_PORT: '9000' }))),
    'http://127.0.0.1:9000',
  );
  assert.throws(
    () => loadConfig(bare({ NIGHTSHIFT_UI_PORT: '80a' })),
    /NIGHTSHIFT_UI_PORT must be a port number from 1 to 65535; got "80a"/,
  );
});

test('the worker log: text at WARN by default; a format or level it does not know names the variable', () => {
  assert.deepEqual(loadConfig(bare()).log, { format: 'text', level: 'WARN' });
  assert.deepEqual(loadConfig(bare({ NIGHTSHIFT_LOG_FORMAT: 'JSON', NIGHTSHIFT_LOG_LEVEL: 'info' })).log, {
    format: 'json',
    level: 'INFO',
  });
  assert.throws(
    () => loadConfig(bare({ NIGHTSHIFT_LOG_FORMAT: 'xml' })),
    /NIGHTSHIFT_LOG_FORMAT must be one of text, json; got "xml"/,
  );
  assert.throws(
    () => loadConfig(bare({ NIGHTSHIFT_LOG_LEVEL: 'loud' })),
    /NIGHTSHIFT_LOG_LEVEL must be one of TRACE, DEBUG, INFO, WARN, ERROR/,
  );
});

test("the Temporal CLI's config file is found in its default place, and TEMPORAL_PROFILE picks a profile", () => {
  const env = bare();
  mkdirSync(path.join(env.HOME!, '.config', 'temporalio'), { recursive: true });
  writeFileSync(
    path.join(env.HOME!, '.config', 'temporalio', 'temporal.toml'),
    '[profile.default]\naddress = "10.0.0.1:7233"\n\n[profile.prod]\naddress = "10.0.0.2:7233"\nnamespace = "night"\n',
  );
  assert.equal(loadConfig(env).temporal.address, '10.0.0.1:7233');
  const prod = loadConfig({ ...env, TEMPORAL_PROFILE: 'prod' });
  assert.deepEqual([prod.temporal.address, prod.temporal.namespace], ['10.0.0.2:7233', 'night']);
  // A variable wins over the profile.
  assert.equal(
    loadConfig({ ...env, TEMPORAL_PROFILE: 'prod', TEMPORAL_ADDRESS: '10.0.0.3:7233' }).temporal.address,
    '10.0.0.3:7233',
  );
});

test('the host as the environment describes it, the CLI flags laid over the variables, and NIGHTSHIFT_DEBUG on its own', () => {
  const host = loadConfig(
    bare({
      PATH: `/opt/x/bin${path.delimiter}${path.delimiter}/usr/bin`,
      DOCKER_HOST: 'tcp://10.0.0.2:2375',
      npm_lifecycle_event: 'nightshift',
      USER: 'alice',
    }),
  ).host;
  assert.deepEqual(host, {
    searchPath: ['/opt/x/bin', '/usr/bin'],
    dockerHost: 'tcp://10.0.0.2:2375',
    npmScript: 'nightshift',
    user: 'alice',
  });
  assert.deepEqual(loadConfig(bare({ PATH: '' })).host, {
    searchPath: [],
    dockerHost: undefined,
    npmScript: undefined,
    user: undefined,
  });
  const flagged = loadConfig(bare({ TEMPORAL_ADDRESS: '127.0.0.1:7300' }), { TEMPORAL_ADDRESS: '127.0.0.1:7400' });
  assert.equal(flagged.temporal.address, '127.0.0.1:7400');
  assert.equal(flagged.temporal.uiPort, 8400);
  assert.equal(debugStacks({}), false);
  assert.equal(debugStacks({ NIGHTSHIFT_DEBUG: ' ' }), false);
  assert.equal(debugStacks({ NIGHTSHIFT_DEBUG: '1' }), true);
});
