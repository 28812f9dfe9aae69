/**
 * No Docker engine runs here, so docker-compose.yml is checked, not run: it parses, and
 * every service, port, variable and search attribute it names matches the code and the docs
 * (docs/configuration.md lists the variables, docs/operations.md the Docker set-up).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { SEARCH_ATTRIBUTES } from '../../contract';

const ROOT = path.join(__dirname, '..', '..');
const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'));
const configurationDoc = readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8');
const operationsDoc = readFileSync(path.join(ROOT, 'docs', 'operations.md'), 'utf8');
const config = readFileSync(path.join(ROOT, 'common', 'config.ts'), 'utf8');

test('compose has PostgreSQL, Temporal, the Web UI and a scalable worker', () => {
  assert.deepEqual(Object.keys(compose.services).sort(), [
    'postgresql',
    'register-search-attributes',
    'temporal',
    'temporal-ui',
    'worker',
  ]);
  assert.equal(compose.services.temporal.environment.DB, 'postgres12');
  assert.equal(compose.services.worker.build, '.');
  assert.equal(
    compose.services.worker.ports,
    undefined,
    'workers publish no ports, so --scale worker=N cannot collide',
  );
  assert.deepEqual(
    compose.services['temporal-ui'].ports,
    ['8233:8080'],
    'the Web UI is on 8233, as with the dev server',
  );
  assert.deepEqual(compose.services.temporal.ports, ['7233:7233']);
});

test('every worker variable is one the config module reads, and the public contract lists', () => {
  for (const name of Object.keys(compose.services.worker.environment)) {
    assert.ok(config.includes(`'${name}'`) || name.startsWith('TEMPORAL_'), `${name} is read by common/config.ts`);
    assert.ok(configurationDoc.includes(name), `${name} is documented in docs/configuration.md`);
  }
});

test('the search attributes registered are exactly the ones the workflows use', () => {
  const script = compose.services['register-search-attributes'].command.join(' ');
  for (const key of Object.values(SEARCH_ATTRIBUTES)) assert.ok(script.includes(key.name), `${key.name} is registered`);
  assert.match(script, /--type Keyword/);
});

test('the worker image builds from files that exist and runs the worker entry point', () => {
  const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  assert.match(dockerfile, /CMD \["node", "dist\/worker\/main.js"\]/);
  // dist/worker/main.js is what the build stage's install compiles (the prepare script) from worker/main.ts.
  assert.ok(existsSync(path.join(ROOT, 'worker', 'main.ts')));
  const build = JSON.parse(readFileSync(path.join(ROOT, 'tsconfig.build.json'), 'utf8')) as {
    compilerOptions: { outDir: string; rootDir: string };
    include: string[];
  };
  assert.deepEqual([build.compilerOptions.outDir, build.compilerOptions.rootDir], ['dist', '.']);
  assert.ok(build.include.includes('worker'));
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.prepare, /npm run build/);
  assert.match(dockerfile, /RUN npm install[^\n]*&& npm prune --omit=dev/);
  assert.match(dockerfile, /COPY --from=build \/app \/app/);
  assert.match(dockerfile, /bubblewrap/);
});

test('the operations docs name the same images and the scale command', () => {
  for (const svc of ['temporal', 'temporal-ui', 'postgresql'])
    assert.ok(
      operationsDoc.includes(compose.services[svc].image),
      `docs/operations.md names ${compose.services[svc].image}`,
    );
  assert.match(operationsDoc, /docker compose up -d --scale worker=\d/);
});
