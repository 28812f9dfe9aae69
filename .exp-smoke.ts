import { createLocalProvider } from './sandbox/local';
import * as fs from 'node:fs';
async function main() {
  const root = fs.mkdtempSync('/tmp/exp/root-') + '/.nightshift/sandboxes';
  process.env.ANTHROPIC_API_KEY = 'sk-secret';
  const p = createLocalProvider({ root });
  let t = Date.now();
  const sb = await p.create({ key: 'nightshift-2026/task-1', envs: { FOO: 'bar' } });
  console.log('create', Date.now() - t, sb.id);
  t = Date.now();
  const r = await sb.exec(process.argv[2] ?? 'echo hi; env | sort; pwd; ls -la; echo x > f.txt; cat /etc/shadow; ls /root; ls /work/main | head -3');
  console.log('exec', Date.now() - t, r);
  t = Date.now();
  const r2 = await sb.exec('sleep 1000 & sleep 1000; echo no', { timeoutMs: 500 });
  console.log('exec2', Date.now() - t, r2);
  console.log(await sb.list('.'));
  console.log(await sb.kill(), await sb.kill());
}
main().catch((e) => { console.error('ERR', e); process.exit(1); });
