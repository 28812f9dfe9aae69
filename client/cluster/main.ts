/**
 * `npm run cluster`: a two-node Temporal cluster on PostgreSQL in the foreground, for trying
 * nightshift the way it runs on several hosts. Ctrl-C (or SIGTERM) stops it; the data stays
 * under .nightshift/cluster/ for the next start.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig, stateDir } from '../../common/config';
import { nodePortsFrom, startTemporalCluster } from './temporal-cluster';

const info = (s: string) => process.stderr.write(`cluster: ${s}\n`);

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1024 || n > 65000) throw new InvalidArgumentError('a port between 1024 and 65000');
  return n;
}

/** Membership ports sit 300 below the frontends and must stay under 32768 (a smallint in Temporal's schema). */
function frontendPort(v: string): number {
  const n = port(v);
  if (n < 1400 || n > 32000)
    throw new InvalidArgumentError(
      'a port between 1400 and 32000 (membership ports, 300 below, must stay under 32768)',
    );
  return n;
}

async function main(): Promise<void> {
  const program = new Command('npm run cluster --')
    .description('Run a two-node Temporal cluster on PostgreSQL 15 on this machine (data under .nightshift/cluster/).')
    .option('--port <port>', "node A's frontend; node B's is 100 above it", frontendPort, 7233)
    .option('--postgres-port <port>', 'PostgreSQL on 127.0.0.1', port, 55432)
    .parse();
  const opts = program.opts<{ port: number; postgresPort: number }>();
  const config = loadConfig();
  const dir = path.join(stateDir(config), 'cluster');
  const cluster = await startTemporalCluster({
    dir,
    serverDir: config.temporalServerDir,
    namespace: config.temporal.namespace,
    postgresPort: opts.postgresPort,
    nodes: [nodePortsFrom(opts.port), nodePortsFrom(opts.port + 100)],
    storeDatabase: 'nightshift',
    log: info,
  });
  // Holds the password: readable by this user only, for NIGHTSHIFT_STORE=$(cat …).
  const storeUrlFile = path.join(dir, 'store-url');
  writeFileSync(storeUrlFile, cluster.postgres.urlFor('nightshift') + '\n', { mode: 0o600 });
  const rel = (p: string) => path.relative(process.cwd(), p) || p;
  process.stdout.write(
    [
      `Temporal cluster up (namespace ${cluster.namespace}):`,
      ...cluster.nodes.map((n) => `  ${n.name}  ${n.address}   log ${rel(n.logFile)}`),
      `PostgreSQL  127.0.0.1:${cluster.postgres.port}   store URL in ${rel(storeUrlFile)}`,
      '',
      'Workers and the CLI connect to either node, e.g.:',
      `  TEMPORAL_ADDRESS=${cluster.addresses[0]} npm run worker`,
      `  TEMPORAL_ADDRESS=${cluster.addresses[1]} npm run worker`,
      '',
      'Ctrl-C stops both nodes and PostgreSQL; the data stays for the next start.',
      '',
    ].join('\n'),
  );
  const watch = setInterval(() => {
    for (const n of cluster.nodes) if (n.pid === undefined) info(`${n.name} is down; see ${rel(n.logFile)}`);
  }, 10_000);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(watch);
    info(`${signal}: stopping both nodes and PostgreSQL`);
    cluster.stop().then(
      () => process.exit(0),
      (e: Error) => {
        info(`stopping failed: ${e.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((e: Error) => {
  info(e.message);
  process.exit(1);
});
