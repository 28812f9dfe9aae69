/**
 * A real, throwaway PostgreSQL 15 for tests: its own data directory under the temp dir, a
 * free port on 127.0.0.1, removed on stop. Never a mock; `bash scripts/bootstrap.sh
 * --cluster` installs the binaries (npm test runs it).
 */
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before } from 'node:test';
import { freePort, startPostgres, type PostgresServer } from '../../client/cluster/postgres';

export type { PostgresServer };

/** A fresh server with `database` created; stop() kills it and deletes its directory. */
export async function startThrowawayPostgres(database = 'nightshift'): Promise<PostgresServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nightshift-pg-'));
  return startPostgres({ dir, port: await freePort(), database, throwaway: true, removeOnStop: true });
}

/** One server for the calling test file, stopped after its tests. */
export function postgresForFile(database = 'nightshift'): { readonly server: PostgresServer } {
  let server: PostgresServer | undefined;
  before(async () => {
    server = await startThrowawayPostgres(database);
  });
  after(async () => {
    await server?.stop();
  });
  return {
    get server() {
      if (!server) throw new Error('PostgreSQL is not started yet; use it inside a test');
      return server;
    },
  };
}
