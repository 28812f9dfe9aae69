/**
 * Test-integrity guard: "all tests pass" means little if tests were deleted, skipped,
 * narrowed with `.only`, or never ran. The checks' output is read for the test runner's own
 * summary (node's runner in TAP or spec form, jest, vitest, mocha, pytest, go test -v,
 * cargo test), counted on
 * the base and on the result, and the agent's diff is read for test files deleted or
 * emptied and for `.only` / skip markers it added.
 *
 * Everything read here is written by the agent or the repository: it is only parsed as
 * text, never run.
 */

import type { IntegrityFinding, TestCounts } from '../../../contract';

export type { IntegrityFinding, TestCounts };

const num = (m: RegExpMatchArray | null) => (m ? Number(m[1]) : 0);
const last = (text: string, re: RegExp): RegExpMatchArray | null => {
  const all = [...text.matchAll(new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g'))];
  return all.length ? all[all.length - 1] : null;
};

/** The test runner's counts from its summary, or undefined when the output has none a runner wrote. */
export function countTests(output: string): TestCounts | undefined {
  // node --test: TAP ("# tests 3") or spec ("ℹ tests 3") summary lines; the last run's counts.
  const nodeTests = last(output, /^(?:#|ℹ) tests (\d+)\s*$/m);
  if (nodeTests) {
    const tail = output.slice(nodeTests.index!);
    const skipped = num(tail.match(/^(?:#|ℹ) skipped (\d+)\s*$/m)) + num(tail.match(/^(?:#|ℹ) todo (\d+)\s*$/m));
    return {
      total: Number(nodeTests[1]),
      passed: num(tail.match(/^(?:#|ℹ) pass (\d+)\s*$/m)),
      failed: num(tail.match(/^(?:#|ℹ) fail (\d+)\s*$/m)) + num(tail.match(/^(?:#|ℹ) cancelled (\d+)\s*$/m)),
      skipped,
    };
  }
  // jest: "Tests:       1 failed, 1 skipped, 2 passed, 4 total"
  const jest = last(output, /^Tests:\s+(.*\d+ total)\s*$/m);
  if (jest) {
    const s = jest[1];
    const skipped = num(s.match(/(\d+) skipped/)) + num(s.match(/(\d+) todo/));
    return {
      total: num(s.match(/(\d+) total/)),
      passed: num(s.match(/(\d+) passed/)),
      failed: num(s.match(/(\d+) failed/)),
      skipped,
    };
  }
  // vitest: "      Tests  1 failed | 2 passed | 1 skipped (4)"
  const vitest = last(output, /^\s*Tests\s+([^\n]*)\((\d+)\)\s*$/m);
  if (vitest) {
    const s = vitest[1];
    return {
      total: Number(vitest[2]),
      passed: num(s.match(/(\d+) passed/)),
      failed: num(s.match(/(\d+) failed/)),
      skipped: num(s.match(/(\d+) skipped/)) + num(s.match(/(\d+) todo/)),
    };
  }
  // pytest: "==== 1 failed, 2 passed, 1 skipped in 0.12s ====" or "no tests ran"
  const pytest = last(
    output,
    /^=+ (.*(?:passed|failed|skipped|error|no tests ran)[^=]*) in [\d.]+s(?: \([^)]*\))? =+\s*$/m,
  );
  if (pytest) {
    const s = pytest[1];
    const passed = num(s.match(/(\d+) passed/));
    const failed = num(s.match(/(\d+) failed/)) + num(s.match(/(\d+) errors?/));
    const skipped = num(s.match(/(\d+) skipped/)) + num(s.match(/(\d+) xfailed/));
    return { total: passed + failed + skipped, passed, failed, skipped };
  }
  // cargo test: one "test result:" line per test binary; summed.
  const cargo = [...output.matchAll(/^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored/gm)];
  if (cargo.length) {
    const sum = (i: number) => cargo.reduce((a, m) => a + Number(m[i]), 0);
    return { total: sum(1) + sum(2) + sum(3), passed: sum(1), failed: sum(2), skipped: sum(3) };
  }
  // mocha's spec reporter: "2 passing (5ms)", "1 failing", "1 pending".
  const mocha = last(output, /^\s+(\d+) passing \(/m);
  if (mocha) {
    const tail = output.slice(mocha.index!);
    const passed = Number(mocha[1]);
    const failed = num(tail.match(/^\s+(\d+) failing\s*$/m));
    const skipped = num(tail.match(/^\s+(\d+) pending\s*$/m));
    return { total: passed + failed + skipped, passed, failed, skipped };
  }
  // go test -v: one line per test.
  const goLines = [...output.matchAll(/^\s*--- (PASS|FAIL|SKIP): /gm)].map((m) => m[1]);
  if (goLines.length) {
    const c = (k: string) => goLines.filter((l) => l === k).length;
    return { total: goLines.length, passed: c('PASS'), failed: c('FAIL'), skipped: c('SKIP') };
  }
  return undefined;
}

/** A file that holds tests, by the names the common runners look for. */
export function isTestFile(file: string): boolean {
  const base = file.split('/').pop() ?? file;
  return (
    /\.(test|spec)\.[cm]?[jt]sx?$/.test(base) ||
    /^test_.*\.py$|_test\.py$/.test(base) ||
    /_test\.go$/.test(base) ||
    /(^|\/)(test|tests|__tests__)\/.+\.[cm]?[jt]sx?$/.test(file)
  );
}

/** Markers that narrow a run or skip a test, in lines the agent added to test files. */
const ONLY = /\b(?:it|test|describe|suite|context)\.only\s*\(|\{\s*only\s*:\s*true\b/;
const SKIP =
  /\b(?:it|test|describe|suite|context)\.(?:skip|todo)\s*\(|\bx(?:it|describe|test)\s*\(|\{\s*(?:skip|todo)\s*:\s*(?:true|['"`])|@pytest\.mark\.skip|\bpytest\.skip\s*\(|\bt\.Skip(?:Now|f)?\s*\(|#\[ignore\]/;

export interface DiffFile {
  path: string;
  /** 'D' deleted; 'M' or 'A' with the new size in bytes. */
  status: 'A' | 'M' | 'D';
  newSize?: number;
  /** Lines the change adds. */
  added: string[];
}

/** What looks like the agent weakening the tests, comparing the base's counts with the result's and reading its diff. */
export function integrityFindings(
  checks: { command: string; base?: TestCounts; result?: TestCounts }[],
  diff: DiffFile[],
): IntegrityFinding[] {
  const out: IntegrityFinding[] = [];
  for (const c of checks) {
    // A base that ran no tests either is not the agent's doing.
    if (c.result && c.result.total === 0 && c.base?.total !== 0)
      out.push({
        kind: 'zero-tests',
        detail: `\`${c.command}\` ran no tests${c.base?.total ? ` (${c.base.total} on the base)` : ''}`,
      });
    else if (c.base && c.result && c.result.total < c.base.total)
      out.push({
        kind: 'tests-disappeared',
        detail: `\`${c.command}\` ran ${c.result.total} tests, ${c.base.total - c.result.total} fewer than the base's ${c.base.total}`,
      });
    if (c.base && c.result && c.result.skipped > c.base.skipped)
      out.push({
        kind: 'newly-skipped',
        detail: `\`${c.command}\` skipped ${c.result.skipped} tests, ${c.result.skipped - c.base.skipped} more than the base`,
      });
  }
  for (const f of diff) {
    if (!isTestFile(f.path)) continue;
    if (f.status === 'D') out.push({ kind: 'test-file-deleted', detail: `test file \`${f.path}\` was deleted` });
    else if (f.status === 'M' && f.newSize !== undefined && f.newSize <= 1)
      out.push({ kind: 'test-file-emptied', detail: `test file \`${f.path}\` was emptied` });
    if (f.added.some((l) => ONLY.test(l)))
      out.push({ kind: 'only', detail: `\`${f.path}\` gained an \`.only\`, which runs only the marked tests` });
    const skips = f.added.filter((l) => SKIP.test(l));
    if (skips.length && !out.some((o) => o.kind === 'newly-skipped' && o.detail.includes(f.path)))
      out.push({ kind: 'newly-skipped', detail: `\`${f.path}\` gained a skip: \`${skips[0].trim().slice(0, 120)}\`` });
  }
  return out;
}
