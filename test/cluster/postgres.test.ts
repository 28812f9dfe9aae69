import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { POSTGRES_BIN, startPostgres } from '../../client/cluster/postgres';
import { startThrowawayPostgres } from '../helpers/postgres';

const psql = (url: string, sql: string) =>
  spawnSync(path.join(POSTGRES_BIN, 'psql'), [url, '-tAc', sql], { encoding: 'utf8' });

test('a throwaway PostgreSQL 15 serves its database on loopback, asks for the password, and leaves nothing behind', async () => {
  const pg = await startThrowawayPostgres('store_test');
  try {
    const ok = psql(pg.url, "select current_database(), split_part(version(), ' ', 2)");
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout.trim(), /^store_test\|15\./);
    const wrong = psql(pg.url.replace(`:${encodeURIComponent(pg.password)}@`, ':wrong@'), 'select 1');
    assert.notEqual(wrong.status, 0, 'a wrong password must be refused');
    assert.match(wrong.stderr, /password authentication failed/);
  } finally {
    await pg.stop();
  }
  assert.notEqual(spawnSync('kill', ['-0', String(pg.pid)]).status, 0, 'the server process is gone');
  assert.notEqual(psql(pg.url, 'select 1').status, 0, 'nothing answers on the port any more');
  assert.equal(existsSync(pg.dir), false, 'the data directory is removed');
});

test('a kept data directory is initialised once and keeps its data and password across restarts', async (t) => {
  const first = await startThrowawayPostgres('scratch');
  await first.stop();
  const dir = `${first.dir}-kept`;
  t.after(() => spawnSync('rm', ['-rf', dir]));
  const a = await startPostgres({ dir, port: first.port, database: 'kept' });
  assert.equal(psql(a.url, 'create table t (x int); insert into t values (42)').status, 0);
  await a.stop();
  const b = await startPostgres({ dir, port: first.port, database: 'kept' });
  try {
    assert.equal(b.password, a.password);
    assert.equal(psql(b.url, 'select x from t').stdout.trim(), '42');
  } finally {
    await b.stop();
  }
});
