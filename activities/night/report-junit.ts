/**
 * The night's checks as JUnit XML (`results/<base>.junit.xml`, beside the report), for CI
 * dashboards and anything else that reads test reports: one <testsuite> per task that ran
 * checks, one <testcase> per check command, and one for the test-integrity guard when it
 * found something.
 *
 * How nightshift's verdicts map: a check that failed is a <failure>; one that also failed
 * on the base has type "pre-existing" (it failed, but not because of the agent); a flaky one
 * passed and carries a <flakyFailure> (the surefire convention); a timed-out one is a
 * <failure type="timeout">. The output tail is the failure's text.
 */
import type { BatchStatus, CheckResult, ChecksOutcome } from '../../contract';

/** Characters of a check's output in the XML; the tail is where a failure shows. */
const MAX_OUTPUT_CHARS = 8_000;

/** Text as XML character data or an attribute value: escaped, and without the characters XML 1.0 cannot hold. */
export function xmlText(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '\uFFFD')
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const tail = (s: string) =>
  s.length > MAX_OUTPUT_CHARS
    ? `[… ${s.length - MAX_OUTPUT_CHARS} characters cut …]\n${s.slice(-MAX_OUTPUT_CHARS)}`
    : s;

function testcase(taskId: string, r: CheckResult): string {
  const open = `    <testcase classname="${xmlText(`nightshift.${taskId}`)}" name="${xmlText(r.command)}">`;
  const counts = r.tests ? ` (${r.tests.total} tests, ${r.tests.failed} failed, ${r.tests.skipped} skipped)` : '';
  if (r.flaky)
    return [
      open,
      `      <flakyFailure message="failed, then passed on a rerun of the same tree${counts}" type="flaky"/>`,
      '    </testcase>',
    ].join('\n');
  if (r.passed) return `${open.slice(0, -1)}/>`;
  const type = r.timedOut ? 'timeout' : r.preExisting ? 'pre-existing' : 'failure';
  const message = r.timedOut
    ? 'timed out'
    : r.preExisting
      ? `exit ${r.exitCode}; it failed on the base too${counts}`
      : `exit ${r.exitCode}${counts}`;
  return [
    open,
    `      <failure message="${xmlText(message)}" type="${type}">${xmlText(tail(r.outputTail))}</failure>`,
    '    </testcase>',
  ].join('\n');
}

function integrityCase(taskId: string, checks: ChecksOutcome): string | undefined {
  if (!checks.integrity?.length) return undefined;
  const details = checks.integrity.map((f) => `${f.kind}: ${f.detail}`).join('\n');
  return [
    `    <testcase classname="${xmlText(`nightshift.${taskId}`)}" name="test integrity">`,
    `      <failure message="the tests look weakened" type="test-integrity">${xmlText(details)}</failure>`,
    '    </testcase>',
  ].join('\n');
}

export function renderChecksJunit(s: Pick<BatchStatus, 'batchId' | 'tasks'>): string {
  const suites: string[] = [];
  let tests = 0;
  let failures = 0;
  for (const t of s.tasks) {
    if (!t.checks) continue;
    const cases = [...t.checks.results.map((r) => testcase(t.taskId, r)), integrityCase(t.taskId, t.checks)].filter(
      (c): c is string => c !== undefined,
    );
    const failed = t.checks.results.filter((r) => !r.passed).length + (t.checks.integrity?.length ? 1 : 0);
    tests += cases.length;
    failures += failed;
    suites.push(
      [
        `  <testsuite name="${xmlText(t.taskId)}" tests="${cases.length}" failures="${failed}" errors="0" skipped="0">`,
        ...cases,
        '  </testsuite>',
      ].join('\n'),
    );
  }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xmlText(s.batchId)}" tests="${tests}" failures="${failures}" errors="0">`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n');
}
