/** Versions are pinned one way: every dependency names the exact version the lock file installs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const json = (file: string) => JSON.parse(readFileSync(path.join(ROOT, file), 'utf8')) as Record<string, unknown>;

test('every dependency and devDependency is an exact version, the one package-lock.json resolved', () => {
  const pkg = json('package.json') as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
  const lock = json('package-lock.json') as { packages: Record<string, { version?: string }> };
  const wrong: string[] = [];
  for (const [name, wanted] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
    const locked = lock.packages[`node_modules/${name}`]?.version;
    if (!/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(wanted) || wanted !== locked)
      wrong.push(`${name}: package.json says ${wanted}, the lock ${locked ?? 'has none'}`);
  }
  assert.deepEqual(wrong, []);
  assert.ok(Object.keys(pkg.dependencies).includes('octokit'), 'the mission names the octokit package');
});

test('.npmrc makes a later `npm install <pkg>` write an exact version too', () => {
  const npmrc = readFileSync(path.join(ROOT, '.npmrc'), 'utf8');
  assert.match(npmrc, /^save-exact\s*=\s*true$/m);
});
