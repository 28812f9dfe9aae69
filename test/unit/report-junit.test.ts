/**
 * The night's checks as JUnit XML, written beside the report: read back with a real XML
 * parser (Python's ElementTree), so a file a CI dashboard would reject fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeReportFiles } from '../../activities/night/report';
import { renderChecksJunit } from '../../activities/night/report-junit';
import type { BatchStatus, CheckResult } from '../../contract';
import { taskStatus } from '../helpers/task-status';

const check = (command: string, o: Partial<CheckResult> = {}): CheckResult => ({
  command,
  exitCode: 0,
  passed: true,
  outputTail: '',
  ...o,
});
const task = taskStatus;

const batch: BatchStatus = {
  batchId: 'nightshift-2026-11-21',
  date: '2026-11-21',
  state: 'completed',
  startedAt: Date.UTC(2026, 10, 21, 1),
  tasks: [
    task('api', {
      checks: {
        passed: false,
        fixRounds: 2,
        results: [
          check('npm test', {
            passed: false,
            exitCode: 1,
            outputTail: 'not ok 3 - <parse> & "quote" \u0007bell\n',
            tests: { total: 3, passed: 2, failed: 1, skipped: 0 },
          }),
          check('npm run lint'),
          check('node --test flaky', { flaky: true }),
          check('make e2e', {
            passed: false,
            exitCode: 2,
            preExisting: true,
            base: 'failed',
            outputTail: 'e2e broken on main',
          }),
        ],
      },
    }),
    task('web', {
      checks: {
        passed: true,
        fixRounds: 0,
        results: [check('pytest', { passed: false, exitCode: 124, timedOut: true, outputTail: '...' })],
        integrity: [{ kind: 'newly-skipped', detail: 'test_login is skipped now' }],
      },
    }),
    task('docs', {}),
  ],
};

/** The XML as a real parser reads it: suites with their attributes and cases. */
function parse(xml: string): {
  attrs: Record<string, string>;
  suites: {
    attrs: Record<string, string>;
    cases: { name: string; kinds: { tag: string; type?: string; message?: string; text?: string }[] }[];
  }[];
} {
  const script = `
import sys, json, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
print(json.dumps({"attrs": root.attrib, "suites": [{"attrs": s.attrib, "cases": [{"name": c.get("name"), "kinds": [{"tag": k.tag, "type": k.get("type"), "message": k.get("message"), "text": k.text} for k in c]} for c in s]} for s in root]}))`;
  return JSON.parse(execFileSync('python3', ['-c', script], { input: xml, encoding: 'utf8' })) as ReturnType<
    typeof parse
  >;
}

test('JUnit: a suite per task with checks, a case per check, pre-existing, flaky, timeout and integrity marked', () => {
  const doc = parse(renderChecksJunit(batch));
  assert.deepEqual(doc.attrs, { name: 'nightshift-2026-11-21', tests: '6', failures: '4', errors: '0' });
  assert.deepEqual(
    doc.suites.map((s) => [s.attrs.name, s.attrs.tests, s.attrs.failures]),
    [
      ['api', '4', '2'],
      ['web', '2', '2'],
    ],
    'a task without checks has no suite',
  );
  const api = doc.suites[0].cases;
  assert.deepEqual(
    api.map((c) => c.name),
    ['npm test', 'npm run lint', 'node --test flaky', 'make e2e'],
  );
  assert.equal(api[0].kinds[0].type, 'failure');
  assert.equal(api[0].kinds[0].message, 'exit 1 (3 tests, 1 failed, 0 skipped)');
  assert.equal(
    api[0].kinds[0].text,
    'not ok 3 - <parse> & "quote" \uFFFDbell\n',
    'output survives escaping; a control character XML cannot hold is replaced',
  );
  assert.deepEqual(api[1].kinds, []);
  assert.deepEqual(
    api[2].kinds.map((k) => [k.tag, k.type]),
    [['flakyFailure', 'flaky']],
  );
  assert.deepEqual(
    [api[3].kinds[0].type, api[3].kinds[0].message],
    ['pre-existing', 'exit 2; it failed on the base too'],
  );
  const web = doc.suites[1].cases;
  assert.deepEqual(
    web.map((c) => [c.name, c.kinds[0].type]),
    [
      ['pytest', 'timeout'],
      ['test integrity', 'test-integrity'],
    ],
  );
  assert.match(web[1].kinds[0].text ?? '', /newly-skipped: test_login is skipped now/);
});

test('the JUnit file is written beside the report, with secrets redacted', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'nightshift-junit-'));
  const secret = 'ghp_' + 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8';
  const leaky: BatchStatus = {
    ...batch,
    tasks: [
      task('api', {
        checks: {
          passed: false,
          fixRounds: 0,
          results: [check('npm test', { passed: false, exitCode: 1, outputTail: `token ${secret}` })],
        },
      }),
    ],
  };
  const files = await writeReportFiles(root, leaky);
  assert.equal(files.junit, 'results/2026-11-21.junit.xml');
  const xml = readFileSync(path.join(root, files.junit), 'utf8');
  assert.ok(!xml.includes(secret), 'the token does not leave in the XML');
  assert.match(parse(xml).suites[0].cases[0].kinds[0].text ?? '', /REDACTED/);
});
