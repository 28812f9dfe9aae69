/**
 * The daily-file habit: `report tasks/2025-11-18.yaml` reports the batch that ran that file,
 * not the newest batch, and a file no batch ran is "not found" (exit 5).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { cliHarness } from '../helpers/cli';

const cli = cliHarness((root) => {
  mkdirSync(path.join(root, 'tasks'), { recursive: true });
  writeFileSync(
    path.join(root, 'tasks', '2025-11-18.yaml'),
    'date: 2025-11-18\ntasks:\n  - id: tidy-up\n    title: Tidy up\n    command: echo tidied\n',
  );
  writeFileSync(
    path.join(root, 'tasks', '2025-11-19.yaml'),
    'date: 2025-11-19\ntasks:\n  - id: next-day\n    title: Next day\n    command: echo next\n',
  );
  writeFileSync(path.join(root, 'tasks', 'never.yaml'), 'tasks:\n  - id: never\n    command: echo never\n');
});

test('report FILE finds the batch that ran that file', async () => {
  await cli.nightshift('start', 'tasks/2025-11-18.yaml', '--wait');
  // A newer batch from another file: `report` without an argument would take this one.
  await cli.nightshift('start', 'tasks/2025-11-19.yaml', '--wait');

  const { report: printed, ...files } = JSON.parse(
    (await cli.nightshift('report', 'tasks/2025-11-18.yaml', '--json')).stdout,
  ) as { markdown: string; json: string; junit: string; report: unknown };
  assert.deepEqual(files, {
    markdown: 'results/2025-11-18-report.md',
    json: 'results/2025-11-18.json',
    junit: 'results/2025-11-18.junit.xml',
  });
  const report = JSON.parse(readFileSync(path.join(cli.root, files.json), 'utf8')) as { results: { task: string }[] };
  assert.deepEqual(
    report.results.map((r) => r.task),
    ['tidy-up'],
  );
  assert.deepEqual(printed, report, '--json prints the report itself too');
  assert.match(
    readFileSync(path.join(cli.root, files.junit), 'utf8'),
    /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="nightshift-2025-11-18" tests="0" failures="0" errors="0">/,
  );

  await assert.rejects(cli.nightshift('report', 'tasks/never.yaml'), (err: { code: number; stderr: string }) => {
    assert.equal(err.code, 5);
    assert.match(err.stderr, /no batch ran tasks\/never\.yaml/);
    return true;
  });
});
