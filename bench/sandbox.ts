/**
 * Local provider latency: create + first exec (`echo hi`) + kill, against a plain
 * child_process spawn of the same command. Usage: tsx bench/sandbox.ts [iterations]
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLocalProvider, shutdownIsolation } from '../sandbox/local';

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  return `median ${at(0.5).toFixed(1)} ms, p95 ${at(0.95).toFixed(1)} ms`;
};

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 30);
  const root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-bench-')), '.nightshift', 'sandboxes');
  const provider = createLocalProvider({ root });
  // The runtime starts its proxies once per worker process; measured on its own.
  let t = performance.now();
  const warm = await provider.create({ key: 'bench-warmup' });
  await warm.exec('echo hi');
  await warm.kill();
  const firstMs = performance.now() - t;
  const sandbox: number[] = [];
  for (let i = 0; i < n; i++) {
    t = performance.now();
    const sb = await provider.create({ key: `bench-${i}` });
    const r = await sb.exec('echo hi');
    await sb.kill();
    if (r.stdout !== 'hi\n') throw new Error(`unexpected output ${JSON.stringify(r)}`);
    sandbox.push(performance.now() - t);
  }
  const plain: number[] = [];
  for (let i = 0; i < n; i++) {
    t = performance.now();
    await new Promise<void>((resolve, reject) => {
      const c = spawn('/bin/bash', ['-c', 'echo hi'], { stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout.resume();
      c.on('error', reject).on('close', () => resolve());
    });
    plain.push(performance.now() - t);
  }
  console.log(`local sandbox create + exec + kill (n=${n}): ${stats(sandbox)}`);
  console.log(`plain child_process spawn        (n=${n}): ${stats(plain)}`);
  console.log(`first command of the process (runtime start-up): ${firstMs.toFixed(1)} ms`);
  await shutdownIsolation();
  fs.rmSync(path.dirname(path.dirname(root)), { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
