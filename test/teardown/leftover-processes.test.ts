/**
 * Runs after the test files that start workers, sandboxes and servers (the suite takes
 * files in path order, two at a time, and this path sorts after theirs): nothing they
 * started may still be running. A leaked worker keeps polling and takes the next run's
 * tasks; a leaked bubblewrap or bridge holds a sandbox's processes open. With two files
 * at a time, the one finishing beside this one is checked only if it ends first.
 *
 * Only orphans count (re-parented to init): a process still attached to a live parent
 * belongs to something that is still running, such as another checkout's tests.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

const CHECKOUT = path.resolve(__dirname, '..', '..');

interface Proc {
  pid: number;
  ppid: number;
  argv: string[];
}

function processes(): Proc[] {
  const out: Proc[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name may hold spaces and parentheses: fields resume after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      out.push({ pid: Number(entry), ppid, argv });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Why `p` is a leftover of this project's tests, or undefined. */
function leftover(p: Proc, checkout = CHECKOUT): string | undefined {
  if (p.ppid !== 1 || p.argv.length === 0) return undefined;
  const exe = path.basename(p.argv[0]);
  const line = p.argv.join(' ');
  if (exe === 'bwrap' || exe === 'socat') return `an orphaned ${exe}`;
  // Test servers keep their state in memory; the demo's and `npm run server`'s have a file and are meant to stay.
  if (exe === 'temporal' && p.argv.includes('start-dev') && !p.argv.includes('--db-filename'))
    return 'an orphaned test dev server';
  if ((exe === 'node' || exe === 'tsx') && line.includes(checkout)) return 'an orphaned node process of this checkout';
  return undefined;
}

test('the classifier: orphans of the project count, attached or kept processes do not', () => {
  const at = '/srv/nightshift';
  assert.equal(leftover({ pid: 9, ppid: 1, argv: ['bwrap', '--die-with-parent'] }, at), 'an orphaned bwrap');
  assert.equal(leftover({ pid: 9, ppid: 1, argv: ['/usr/bin/socat', 'TCP-LISTEN:3128'] }, at), 'an orphaned socat');
  assert.equal(
    leftover({ pid: 9, ppid: 1, argv: ['/usr/bin/node', '--import', 'tsx', `${at}/worker/main.ts`] }, at),
    'an orphaned node process of this checkout',
  );
  assert.equal(
    leftover({ pid: 9, ppid: 1, argv: ['temporal', 'server', 'start-dev', '--port', '4'] }, at),
    'an orphaned test dev server',
  );
  assert.equal(
    leftover({ pid: 9, ppid: 1, argv: ['temporal', 'server', 'start-dev', '--db-filename', 'x.db'] }, at),
    undefined,
  );
  assert.equal(leftover({ pid: 9, ppid: 77, argv: ['bwrap'] }, at), undefined);
  assert.equal(leftover({ pid: 9, ppid: 1, argv: ['/usr/bin/node', '/elsewhere/worker/main.ts'] }, at), undefined);
});

test('no process the suite started is still running', async () => {
  // A process killed by the last file may take a moment to be reaped.
  let found: string[] = [];
  for (let i = 0; i < 10; i++) {
    found = processes().flatMap((p) => {
      const why = leftover(p);
      return why ? [`${why}: pid ${p.pid}: ${p.argv.join(' ').slice(0, 200)}`] : [];
    });
    if (found.length === 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.deepEqual(found, [], `left running after the suite:\n${found.join('\n')}`);
});
