/** The lint rules that guard workflow determinism really fire. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ESLint } from 'eslint';

const ROOT = path.join(__dirname, '..', '..');

async function ruleIds(code: string, file: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: ROOT });
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  return result.messages.map((m) => m.ruleId ?? m.message);
}

test('workflows/ may not import Node built-ins or side-effecting clients', async () => {
  const ids = await ruleIds(
    "import * as fs from 'node:fs';\nimport { Octokit } from 'octokit';\nexport const x = [fs, Octokit];\n",
    'workflows/night/dag.ts',
  );
  assert.deepEqual(ids, ['@typescript-eslint/no-restricted-imports', '@typescript-eslint/no-restricted-imports']);
});

test('workflows/ may import activity types only', async () => {
  assert.deepEqual(
    await ruleIds(
      "import type { Activities } from '../activities';\nexport type A = Activities;\n",
      'workflows/night/dag.ts',
    ),
    [],
  );
  const ids = await ruleIds(
    "import { createActivities } from '../activities';\nexport const c = createActivities;\n",
    'workflows/night/dag.ts',
  );
  assert.deepEqual(ids, ['@typescript-eslint/no-restricted-imports']);
});

test('a forgotten await is an error everywhere', async () => {
  const ids = await ruleIds(
    'async function f(): Promise<void> {}\nexport function g(): void {\n  f();\n}\n',
    'activities/night/spec.ts',
  );
  assert.deepEqual(ids, ['@typescript-eslint/no-floating-promises']);
});

test('a promise where a callback or a condition is expected, an await of a non-promise, a switch missing a case', async () => {
  const code = [
    "type Kind = 'a' | 'b';",
    'export async function f(kind: Kind, names: string[]): Promise<number> {',
    '  names.forEach(async (n) => { await Promise.resolve(n); });',
    '  const ready = Promise.resolve(true);',
    '  if (ready) await 1;',
    "  switch (kind) { case 'a': return 1; }",
    '  return 0;',
    '}',
    '',
  ].join('\n');
  assert.deepEqual((await ruleIds(code, 'activities/night/spec.ts')).sort(), [
    '@typescript-eslint/await-thenable',
    '@typescript-eslint/no-misused-promises',
    '@typescript-eslint/no-misused-promises',
    '@typescript-eslint/switch-exhaustiveness-check',
  ]);
});
