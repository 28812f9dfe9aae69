/**
 * bench:policy — the safety policy's check on command lines of growing size. It runs before
 * every bash call, so its cost must grow linearly with the line: the time per KiB should
 * stay flat from 1 KiB to 1 MiB for each shape of command.
 */
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkCommand, DEFAULT_SAFETY_POLICY } from '../sandbox/policy';
import { machine, median } from './stats';

const ws = mkdtempSync(path.join(os.tmpdir(), 'nightshift-bench-policy-'));
const files = () => null;

/** Command lines that repeat one unit until they reach `bytes`. */
const SHAPES: Record<string, (i: number) => string> = {
  'plain commands': (i) => `echo step${i} && ls -la src/dir${i} | grep -c x; `,
  'assignments then uses': (i) => `V${i}=value${i}; echo "$V${i}" $((${i} + 1)); `,
  'nested substitutions': (i) => `echo "$(printf '%s' "$(echo a${i})")" \`date\`; `,
  'pipelines and subshells': (i) => `(cd src && cat a${i} | sort | uniq -c) | head -n 1; `,
  'sh -c strings': (i) => `sh -c 'echo ${i}; bash -c "ls ${i}"'; `,
  'one long quoted word': (i) => (i === 0 ? 'echo "' : `word${i} `),
};

function lineOf(shape: (i: number) => string, bytes: number): string {
  let s = '';
  for (let i = 0; s.length < bytes; i++) s += shape(i);
  return shape === SHAPES['one long quoted word'] ? `${s}"` : s;
}

function timeCheck(cmd: string): number {
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t = process.hrtime.bigint();
    checkCommand(cmd, DEFAULT_SAFETY_POLICY, ws, ws, files);
    runs.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return median(runs);
}

// Warm-up, so the first size does not pay for compiling the checker.
for (const shape of Object.values(SHAPES)) timeCheck(lineOf(shape, 64 * 1024));
console.log(`bench:policy on ${machine()}\n`);
const sizes = [1, 16, 256, 1024].map((k) => k * 1024);
console.log(`| shape | ${sizes.map((b) => `${b / 1024} KiB`).join(' | ')} | µs per KiB at 1 KiB / 1 MiB |`);
console.log(`|---|${sizes.map(() => '---|').join('')}---|`);
for (const [name, shape] of Object.entries(SHAPES)) {
  const ms = sizes.map((b) => timeCheck(lineOf(shape, b)));
  const perKiB = (i: number) => ((ms[i] * 1000) / (sizes[i] / 1024)).toFixed(1);
  console.log(
    `| ${name} | ${ms.map((m) => `${m.toFixed(2)} ms`).join(' | ')} | ${perKiB(0)} / ${perKiB(sizes.length - 1)} |`,
  );
}
