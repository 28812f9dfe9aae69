/**
 * Whole-loop attacks on the worker's git, on a real dev server with a scripted model and
 * real bubblewrap sandboxes, NIGHTSHIFT_ROOT outside /tmp: a repo-less agent plants a
 * `.git` with a filter clean driver (the checkpoint after each tool call must not run
 * it); an agent plants a filter in its HOME before finish (the delivered tree must be
 * the checked tree); a check rewrites the workspace after passing (nothing is delivered).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { checkpointStoreFor } from '../../activities/task/sandbox-steps';
import { checkpointRef } from '../../sandbox/workspace';
import type { NightshiftConfig } from '../../common/config';
import { message, startFakeAnthropic, text, toolUse } from '../fakes/anthropic-server';
import { scratchDir } from '../helpers/outside-tmp';
import { devServerForFile, testConfig, testWorker } from '../helpers/temporal';
import { makeRepo } from '../sandbox/helpers';
import { agentInput, agentSpec, runAgentTask, withModel, workflowIdOf } from './helpers';

const server = devServerForFile();

const gitDir = (dir: string, ...args: string[]) =>
  execFileSync('git', ['--git-dir', dir, ...args], { encoding: 'utf8' }).trim();

function config(modelUrl: string): NightshiftConfig {
  return withModel(testConfig(server.env, scratchDir('root')), modelUrl);
}

test('a repo-less agent plants a .git with a filter clean driver: the checkpoints never run it on the host', async () => {
  const marker = path.join(scratchDir('marker'), 'filter-ran-on-host');
  const run = `"sh -c 'echo ran >> ${marker}; cat'"`;
  const plant = [
    'mkdir -p .git/objects .git/refs/heads',
    "printf 'ref: refs/heads/main\\n' > .git/HEAD",
    "printf '* filter=evil\\n' > .gitattributes",
    `cat > .git/config <<'EOF'`,
    '[core]',
    `\tfsmonitor = ${run}`,
    `\tsshCommand = ${run}`,
    '[filter "evil"]',
    `\tclean = ${run}`,
    `\tsmudge = ${run}`,
    '\trequired = true',
    '[url "ssh://attacker.invalid/"]',
    '\tinsteadOf = /',
    'EOF',
  ].join('\n');
  const fake = await startFakeAnthropic({
    byTurn: (turn) => {
      if (turn === 1) return message([toolUse('tu_plant', 'bash', { command: plant })]);
      if (turn === 2) return message([toolUse('tu_write', 'write_file', { path: 'notes.md', content: 'the work\n' })]);
      return message([
        text('Done.'),
        toolUse('tu_fin', 'finish', { summary: 'wrote notes.md', verification: 'read it back' }),
      ]);
    },
  });
  try {
    const cfg = config(fake.url);
    const worker = await testWorker(server.env, cfg);
    const input = agentInput(agentSpec());
    const { result } = await runAgentTask(server.env, worker, input);
    assert.equal(result.status, 'succeeded', result.error);
    // The sandbox binds a read-only placeholder over .git, so the plant fails there; the
    // host side is tested over a .git planted on disk in test/sandbox/host-git.test.ts.
    assert.match(
      JSON.stringify(fake.requests[1].body.messages),
      /cannot create directory .\.git.: Not a directory/,
      'the sandbox let the agent create .git',
    );

    assert.ok(
      !fs.existsSync(marker),
      `the agent's filter ran on the host: ${fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8') : ''}`,
    );
    // The checkpoints ran over the planted .gitattributes: the last one holds the work, unfiltered.
    const store = checkpointStoreFor(cfg);
    // Checkpoints are kept per run: the ref is the workflow ID's, with '@<run>' after it.
    const runRefs = gitDir(store, 'for-each-ref', '--format=%(refname)', `${checkpointRef(workflowIdOf(input))}-*`)
      .split('\n')
      .filter(Boolean);
    assert.equal(runRefs.length, 1, `one checkpoint ref for the run: ${runRefs.join(', ')}`);
    const ref = runRefs[0];
    assert.deepEqual(gitDir(store, 'ls-tree', '-r', '--name-only', ref).split('\n'), ['.gitattributes', 'notes.md']);
    assert.equal(gitDir(store, 'show', `${ref}:notes.md`), 'the work');
    assert.ok(fs.existsSync(path.join(result.workDir!, 'notes.md')));
    assert.ok(!fs.existsSync(path.join(result.workDir!, '.git')), 'the kept work holds no .git');
  } finally {
    await fake.close();
  }
});

test('an agent plants a filter in its HOME before finish: the delivered tree is the checked tree and the filter never runs', async () => {
  const { bare } = makeRepo();
  // test/sandbox/host-git.test.ts shows this plant is live for an ordinary git in the sandbox.
  const plant = [
    'mkdir -p "$HOME/.config/git"',
    `printf '* filter=evil\\n' > "$HOME/.config/git/attributes"`,
    `cat > "$HOME/.gitconfig" <<'EOF'`,
    '[filter "evil"]',
    `\tclean = "sh -c 'touch \\"$PWD/FILTER-RAN\\"; sed s/good/EVIL/'"`,
    '\trequired = true',
    'EOF',
  ].join('\n');
  const fake = await startFakeAnthropic({
    byTurn: (turn) => {
      if (turn === 1) return message([toolUse('tu_write', 'write_file', { path: 'app.txt', content: 'good\n' })]);
      if (turn === 2) return message([toolUse('tu_plant', 'bash', { command: plant })]);
      return message([
        text('Done.'),
        toolUse('tu_fin', 'finish', { summary: 'app.txt says good', verification: 'grep' }),
      ]);
    },
  });
  try {
    const worker = await testWorker(server.env, config(fake.url));
    const { result } = await runAgentTask(
      server.env,
      worker,
      agentInput(agentSpec({ repo: bare, checks: ['grep -qx good app.txt'] })),
    );
    assert.equal(result.status, 'succeeded', result.error);
    assert.match(JSON.stringify(fake.requests[2].body.messages), /exit code: 0/, 'the filter was planted');
    assert.equal(result.checks?.passed, true);
    assert.ok(result.commit && result.checks?.tree);

    assert.equal(
      gitDir(bare, 'rev-parse', `${result.commit}^{tree}`),
      result.checks.tree,
      'the delivered tree is the tree the checks ran on',
    );
    assert.equal(gitDir(bare, 'show', `${result.commit}:app.txt`), 'good');
    assert.deepEqual(gitDir(bare, 'ls-tree', '--name-only', result.commit).split('\n').sort(), [
      'CLAUDE.md',
      'README.md',
      'app.txt',
    ]);
    assert.ok(!fs.existsSync(path.join(result.workDir!, 'FILTER-RAN')), 'the filter never ran in the delivery commit');
  } finally {
    await fake.close();
  }
});

test('a check rewrites the workspace after passing: the task fails and nothing is delivered', async () => {
  const { bare } = makeRepo();
  const fake = await startFakeAnthropic({
    byTurn: (turn) => {
      if (turn === 1) {
        return message([
          toolUse('tu_app', 'write_file', { path: 'app.txt', content: 'good\n' }),
          toolUse('tu_check', 'write_file', {
            path: 'check.sh',
            content: "grep -qx good app.txt && printf 'swapped\\n' > app.txt\n",
          }),
        ]);
      }
      return message([text('Done.'), toolUse('tu_fin', 'finish', { summary: 'done', verification: 'sh check.sh' })]);
    },
  });
  try {
    const worker = await testWorker(server.env, config(fake.url));
    const { result } = await runAgentTask(
      server.env,
      worker,
      agentInput(agentSpec({ repo: bare, checks: ['sh check.sh'] })),
    );
    assert.equal(result.checks?.passed, true, 'the check itself passed');
    assert.equal(result.status, 'failed');
    assert.match(result.error ?? '', /the workspace changed after the checks ran .* nothing was delivered/);
    assert.equal(result.commit, undefined);
    assert.equal(result.branch, undefined);
    assert.equal(
      gitDir(bare, 'for-each-ref', '--format=%(refname)', 'refs/heads/nightshift'),
      '',
      'no branch was pushed',
    );
  } finally {
    await fake.close();
  }
});
