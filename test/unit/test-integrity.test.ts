/**
 * The test-integrity guard's reading of runner output and of the agent's diff. Node's
 * runner output is the real thing: the tests run node's own runner in both reporters.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { countTests, integrityFindings, isTestFile } from '../../activities/task/delivery/test-integrity';

function nodeTestOutput(reporter: 'tap' | 'spec'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ns-integrity-'));
  writeFileSync(
    path.join(dir, 'a.test.js'),
    "const { test } = require('node:test');\ntest('ok', () => {});\ntest('bad', () => { throw new Error('no'); });\ntest('later', { skip: true }, () => {});\ntest('ok 2', () => {});\n",
  );
  // Without NODE_TEST_CONTEXT: under a test runner, a child runner would report to it instead of printing.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const r = spawnSync(process.execPath, ['--test', `--test-reporter=${reporter}`, 'a.test.js'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...env, NODE_OPTIONS: '' },
  });
  return r.stdout + r.stderr;
}

test("node's runner, TAP and spec reporters: total, passed, failed, skipped", () => {
  for (const reporter of ['tap', 'spec'] as const) {
    assert.deepEqual(countTests(nodeTestOutput(reporter)), { total: 4, passed: 2, failed: 1, skipped: 1 }, reporter);
  }
});

test('jest, vitest, pytest, go test -v, cargo test and mocha summaries; no summary is undefined', () => {
  assert.deepEqual(countTests('PASS a.test.js\nTests:       1 failed, 1 skipped, 2 passed, 4 total\nTime: 1s\n'), {
    total: 4,
    passed: 2,
    failed: 1,
    skipped: 1,
  });
  assert.deepEqual(countTests(' Test Files  1 passed (1)\n      Tests  1 failed | 2 passed | 1 skipped (4)\n'), {
    total: 4,
    passed: 2,
    failed: 1,
    skipped: 1,
  });
  assert.deepEqual(countTests('===== 1 failed, 2 passed, 1 skipped in 0.12s =====\n'), {
    total: 4,
    passed: 2,
    failed: 1,
    skipped: 1,
  });
  assert.deepEqual(
    countTests('=== RUN TestA\n--- PASS: TestA (0.00s)\n--- SKIP: TestB (0.00s)\n--- FAIL: TestC (0.00s)\nFAIL\n'),
    { total: 3, passed: 1, failed: 1, skipped: 1 },
  );
  assert.deepEqual(countTests('# tests 0\n# suites 0\n# pass 0\n# fail 0\n'), {
    total: 0,
    passed: 0,
    failed: 0,
    skipped: 0,
  });
  assert.deepEqual(
    countTests(
      'running 2 tests\ntest a ... ok\ntest result: FAILED. 1 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\ntest result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n',
    ),
    { total: 7, passed: 4, failed: 1, skipped: 2 },
  );
  assert.deepEqual(countTests('  math\n    ✔ adds\n\n  2 passing (5ms)\n  1 failing\n  1 pending\n'), {
    total: 4,
    passed: 2,
    failed: 1,
    skipped: 1,
  });
  assert.equal(countTests('all good\n'), undefined);
});

test('findings: fewer tests, more skipped, zero run, deleted or emptied test files, .only and skip markers added', () => {
  const base = { total: 4, passed: 4, failed: 0, skipped: 0 };
  assert.deepEqual(
    integrityFindings([{ command: 'npm test', base, result: { total: 4, passed: 4, failed: 0, skipped: 0 } }], []),
    [],
  );
  const kinds = (f: { kind: string }[]) => f.map((x) => x.kind).sort();
  assert.deepEqual(
    kinds(
      integrityFindings([{ command: 'npm test', base, result: { total: 3, passed: 3, failed: 0, skipped: 0 } }], []),
    ),
    ['tests-disappeared'],
  );
  assert.deepEqual(
    kinds(
      integrityFindings([{ command: 'npm test', base, result: { total: 4, passed: 3, failed: 0, skipped: 1 } }], []),
    ),
    ['newly-skipped'],
  );
  assert.deepEqual(
    kinds(
      integrityFindings([{ command: 'npm test', base, result: { total: 0, passed: 0, failed: 0, skipped: 0 } }], []),
    ),
    ['zero-tests'],
  );
  assert.deepEqual(
    integrityFindings(
      [
        {
          command: 'npm test',
          base: { total: 0, passed: 0, failed: 0, skipped: 0 },
          result: { total: 0, passed: 0, failed: 0, skipped: 0 },
        },
      ],
      [],
    ),
    [],
    'the base ran none either',
  );
  // Zero tests with no base to compare with is still flagged.
  assert.deepEqual(
    kinds(integrityFindings([{ command: 'npm test', result: { total: 0, passed: 0, failed: 0, skipped: 0 } }], [])),
    ['zero-tests'],
  );
  assert.deepEqual(
    kinds(
      integrityFindings(
        [],
        [
          { path: 'test/a.test.js', status: 'D', added: [] },
          { path: 'tests/test_b.py', status: 'M', newSize: 0, added: [] },
          { path: 'src/c.spec.ts', status: 'M', newSize: 200, added: ["  it.only('works', () => {"] },
          { path: 'pkg/d_test.go', status: 'M', newSize: 200, added: ['\tt.Skip("later")'] },
          { path: 'src/e.js', status: 'D', added: [] },
          { path: 'src/f.js', status: 'M', newSize: 10, added: ["it.only('not a test file')"] },
        ],
      ),
    ),
    ['newly-skipped', 'only', 'test-file-deleted', 'test-file-emptied'],
  );
  assert.ok(
    isTestFile('test/unit/report.test.ts') &&
      isTestFile('__tests__/x.js') &&
      isTestFile('a/b_test.go') &&
      !isTestFile('src/testing.ts'),
  );
});
