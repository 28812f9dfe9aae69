import { SandboxManager } from '@anthropic-ai/sandbox-runtime';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
async function main() {
  const base = fs.mkdtempSync('/tmp/exp/sb-');
  const ws = base + '/ws'; const tmp = base + '/tmp'; fs.mkdirSync(ws); fs.mkdirSync(tmp);
  await SandboxManager.initialize({
    network: { allowedDomains: [], deniedDomains: [] },
    filesystem: { denyRead: [], allowRead: [], allowWrite: [], denyWrite: [] },
  } as any);
  const socks = [SandboxManager.getLinuxHttpSocketPath(), SandboxManager.getLinuxSocksSocketPath()].filter(Boolean) as string[];
  console.log(socks);
  const cmd = process.argv[2];
  const id = randomBytes(16).toString('base64url');
  SandboxManager.registerCommandNetworkLists(id, { allowedDomains: ['example.com'] });
  const w = await SandboxManager.wrapWithSandbox(cmd, undefined, {
      filesystem: { denyRead: ['/root', '/home', '/work', '/tmp'], allowRead: [ws, tmp, ...(process.argv[3] ? socks : []), '/work/main/node_modules/@anthropic-ai/sandbox-runtime/vendor/seccomp'], allowWrite: [ws, tmp], denyWrite: [] },
    } as any, undefined, { commandId: id });
  const r = await new Promise<string>((res) => {
    const c = spawn('/bin/bash', ['-c', w], { cwd: ws, env: { PATH: '/usr/bin:/bin', HOME: tmp } });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    c.on('close', (code) => res(code + ' ' + out));
  });
  console.log(r);
  await SandboxManager.reset();
}
main().catch((e) => { console.error('ERR', e); process.exit(1); });
