/** The worker's deployment version: settings, the default build ID, and versioning off. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '../../common/config';
import { defaultBuildId, workerDeploymentOptions } from '../../worker/versioning';

const REPO = path.join(__dirname, '..', '..');

test('the default build ID is the package version and the commit of the running code', () => {
  const { version } = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
  const commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
  assert.equal(defaultBuildId('code'), `${version}+${commit}`);
  const options = workerDeploymentOptions(loadConfig({}).deployment, 'code');
  assert.deepEqual(options, {
    version: { deploymentName: 'nightshift', buildId: `${version}+${commit}` },
    useWorkerVersioning: true,
    defaultVersioningBehavior: 'PINNED',
  });
});

test('NIGHTSHIFT_BUILD_ID, NIGHTSHIFT_DEPLOYMENT_NAME and NIGHTSHIFT_WORKER_VERSIONING=off', () => {
  const named = loadConfig({
    NIGHTSHIFT_BUILD_ID: '2.0.0+hotfix',
    NIGHTSHIFT_DEPLOYMENT_NAME: 'night-east',
    NIGHTSHIFT_DEPLOY_PROMOTE: 'manual',
  }).deployment;
  assert.deepEqual(named, { versioning: true, name: 'night-east', buildId: '2.0.0+hotfix', promote: 'manual' });
  assert.deepEqual(workerDeploymentOptions(named, 'code')?.version, {
    deploymentName: 'night-east',
    buildId: '2.0.0+hotfix',
  });
  assert.equal(
    workerDeploymentOptions(loadConfig({ NIGHTSHIFT_WORKER_VERSIONING: 'off' }).deployment, 'code'),
    undefined,
  );
});

test('a bad deployment setting stops the program with the variable named', () => {
  assert.throws(() => loadConfig({ NIGHTSHIFT_BUILD_ID: 'a:b' }), /NIGHTSHIFT_BUILD_ID may hold/);
  assert.throws(
    () => loadConfig({ NIGHTSHIFT_WORKER_VERSIONING: 'yes' }),
    /NIGHTSHIFT_WORKER_VERSIONING must be on or off/,
  );
  assert.throws(
    () => loadConfig({ NIGHTSHIFT_DEPLOY_PROMOTE: 'always' }),
    /NIGHTSHIFT_DEPLOY_PROMOTE must be auto or manual/,
  );
});
