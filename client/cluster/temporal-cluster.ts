/**
 * A two-node Temporal cluster on this machine without Docker: the server and sql tool that
 * `scripts/bootstrap.sh --cluster` builds, PostgreSQL 15 from client/cluster/postgres.ts,
 * and two server processes (each running frontend, history, matching and worker) that find
 * each other through the database's membership table, as the nodes of a production
 * cluster do.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Connection, isGrpcServiceError } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { inheritedEnv } from '../../common/config';
import { SEARCH_ATTRIBUTES } from '../../contract';
import { freePort, startPostgres, type PostgresServer } from './postgres';

/** The server version scripts/bootstrap.sh builds and docker-compose.yml runs. */
export const SERVER_VERSION = '1.29.1';

const SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
type Service = (typeof SERVICES)[number];

/** Every port one node listens on (all on 127.0.0.1). */
export interface NodePorts {
  /** The frontend's gRPC port: the address clients and workers connect to. */
  frontend: number;
  frontendHttp: number;
  grpc: Record<Exclude<Service, 'frontend'>, number>;
  membership: Record<Service, number>;
}

export interface ClusterOptions {
  /** Holds `postgres/`, `config/` and one log per node; kept between runs unless removeOnStop. */
  dir: string;
  /** Directory with temporal-server, temporal-sql-tool and schema/ (NightshiftConfig.temporalServerDir). */
  serverDir: string;
  namespace: string;
  postgresPort: number;
  /** The two nodes' ports, node A first. */
  nodes: [NodePorts, NodePorts];
  /** A database created beside Temporal's for nightshift's state store. @default none */
  storeDatabase?: string;
  /** Throwaway PostgreSQL settings (no fsync) and removal of `dir` on stop: for tests. @default false */
  throwaway?: boolean;
  /** @default 'warn' */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  log?: (line: string) => void;
}

export interface ClusterNode {
  name: string;
  /** host:port of this node's frontend. */
  address: string;
  logFile: string;
  /** The running server process's pid, or undefined while it is down. */
  readonly pid: number | undefined;
  /** Sends `signal` to the server process and waits for it to exit. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Starts the node again after a kill and waits until its frontend serves. */
  restart(): Promise<void>;
}

export interface TemporalCluster {
  namespace: string;
  postgres: PostgresServer;
  nodes: [ClusterNode, ClusterNode];
  /** Both frontends, node A first. */
  addresses: string[];
  /** Stops both nodes (SIGTERM, their graceful shutdown), then PostgreSQL. */
  stop(): Promise<void>;
}

/** Ports for a node from its frontend port: 7233 gives the layout of Temporal's own development configs. */
export function nodePortsFrom(frontend: number): NodePorts {
  return {
    frontend,
    frontendHttp: frontend + 10,
    grpc: { history: frontend + 1, matching: frontend + 2, worker: frontend + 6 },
    membership: { frontend: frontend - 300, history: frontend - 299, matching: frontend - 298, worker: frontend - 294 },
  };
}

/** Membership ports are a smallint in Temporal's cluster_membership table. */
const MEMBERSHIP_PORT_LIMIT = 32_768;

/** Nine free ports on 127.0.0.1, for tests that run beside other clusters and dev servers. */
export async function freeNodePorts(): Promise<NodePorts> {
  const p = () => freePort();
  const m = () => freePort(MEMBERSHIP_PORT_LIMIT);
  return {
    frontend: await p(),
    frontendHttp: await p(),
    grpc: { history: await p(), matching: await p(), worker: await p() },
    membership: { frontend: await m(), history: await m(), matching: await m(), worker: await m() },
  };
}

function binaries(serverDir: string): { server: string; sqlTool: string; schema: string } {
  const b = {
    server: path.join(serverDir, 'temporal-server'),
    sqlTool: path.join(serverDir, 'temporal-sql-tool'),
    schema: path.join(serverDir, 'schema', 'postgresql', 'v12'),
  };
  for (const f of [b.server, b.sqlTool, b.schema]) {
    if (!existsSync(f))
      throw new Error(
        `no ${path.basename(f)} in ${serverDir}: run 'bash scripts/bootstrap.sh --cluster' (builds Temporal server v${SERVER_VERSION}, about 5 minutes the first time)`,
      );
  }
  return b;
}

const DATABASES = { temporal: 'temporal', visibility: 'temporal_visibility' } as const;

/**
 * Creates both databases and brings their schemas to the version the server expects. Each
 * step is idempotent in the sql tool (an existing database is kept, setup-schema skips a
 * schema already past 0.0, update-schema applies only the missing versions), so a kept
 * data directory is migrated in place after a server upgrade.
 */
function setupSchemas(sqlTool: string, schemaDir: string, pg: PostgresServer): void {
  const env = {
    ...inheritedEnv(),
    SQL_PLUGIN: 'postgres12',
    SQL_HOST: pg.host,
    SQL_PORT: String(pg.port),
    SQL_USER: pg.user,
    SQL_PASSWORD: pg.password,
  };
  for (const [schema, database] of Object.entries(DATABASES)) {
    for (const args of [
      ['create-database'],
      ['setup-schema', '-v', '0.0'],
      ['update-schema', '-d', path.join(schemaDir, schema, 'versioned')],
    ]) {
      const r = spawnSync(sqlTool, ['--db', database, ...args], { env, encoding: 'utf8' });
      if (r.status !== 0)
        throw new Error(
          `temporal-sql-tool --db ${database} ${args.join(' ')} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join('\n')}`,
        );
    }
  }
}

function datastore(pg: PostgresServer, database: string, maxConns: number): Record<string, unknown> {
  return {
    sql: {
      pluginName: 'postgres12',
      databaseName: database,
      connectAddr: `${pg.host}:${pg.port}`,
      connectProtocol: 'tcp',
      user: pg.user,
      password: pg.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  };
}

/**
 * The server's config as JSON, which is YAML: `base.yaml` is what both nodes share (the
 * database, cluster metadata, dynamic config), `<node>.yaml` only its ports.
 */
function writeConfigs(configDir: string, o: ClusterOptions, pg: PostgresServer): void {
  mkdirSync(configDir, { recursive: true });
  const dynamicConfig = path.join(configDir, 'dynamic-config.yaml');
  writeFileSync(
    dynamicConfig,
    [
      '# Same as the dev server nightshift starts (client/server.ts): an activity goes to the',
      '# worker in the round trip of the workflow task that scheduled it.',
      'system.enableActivityEagerExecution:',
      '  - value: true',
      '',
    ].join('\n'),
  );
  const base = {
    log: { stdout: true, level: o.logLevel ?? 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      // Shards are the unit history work moves between nodes in; four let a dead node's
      // half move to the survivor while keeping shard takeover quick.
      numHistoryShards: 4,
      datastores: {
        'postgres-default': datastore(pg, DATABASES.temporal, 20),
        'postgres-visibility': datastore(pg, DATABASES.visibility, 5),
      },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: {
          enabled: true,
          initialFailoverVersion: 1,
          rpcName: 'frontend',
          rpcAddress: `127.0.0.1:${o.nodes[0].frontend}`,
        },
      },
    },
    dynamicConfigClient: { filepath: dynamicConfig, pollInterval: '10s' },
  };
  writeFileSync(path.join(configDir, 'base.yaml'), JSON.stringify(base, null, 2) + '\n');
  o.nodes.forEach((ports, i) => {
    const services: Record<string, unknown> = {};
    for (const s of SERVICES) {
      services[s] = {
        rpc: {
          grpcPort: s === 'frontend' ? ports.frontend : ports.grpc[s],
          membershipPort: ports.membership[s],
          bindOnLocalHost: true,
          ...(s === 'frontend' ? { httpPort: ports.frontendHttp } : {}),
        },
      };
    }
    writeFileSync(path.join(configDir, `${nodeName(i)}.yaml`), JSON.stringify({ services }, null, 2) + '\n');
  });
}

const nodeName = (i: number) => `node-${'ab'[i]}`;

async function waitServing(address: string, isDown: () => string | undefined, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const down = isDown();
    if (down) throw new Error(down);
    try {
      const conn = await Connection.connect({ address, connectTimeout: 2_000 });
      try {
        const r = await conn.healthService.check({ service: 'temporal.api.workflowservice.v1.WorkflowService' });
        if (r.status === 1) return; // SERVING
        last = `health ${r.status}`;
      } finally {
        await conn.close();
      }
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`the Temporal node at ${address} did not become SERVING: ${last}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const KEYWORD = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
const GRPC_NOT_FOUND = 5;
const GRPC_ALREADY_EXISTS = 6;

/**
 * Registers the namespace and nightshift's search attributes (contract/search-attributes.ts), each
 * only if missing. The frontend learns of a new namespace on its next cache refresh, so
 * adding the attributes is retried until it sees it.
 */
async function registerNamespace(address: string, namespace: string): Promise<void> {
  const conn = await Connection.connect({ address });
  try {
    try {
      await conn.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('3 days') });
    } catch (e) {
      if (!(isGrpcServiceError(e) && e.code === GRPC_ALREADY_EXISTS)) throw e;
    }
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const existing = await conn.operatorService.listSearchAttributes({ namespace });
        const missing = Object.values(SEARCH_ATTRIBUTES).filter((a) => !(a.name in (existing.customAttributes ?? {})));
        if (missing.length === 0) return;
        await conn.operatorService.addSearchAttributes({
          namespace,
          searchAttributes: Object.fromEntries(missing.map((a) => [a.name, KEYWORD])),
        });
      } catch (e) {
        if (!(isGrpcServiceError(e) && e.code === GRPC_NOT_FOUND) || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  } finally {
    await conn.close();
  }
}

export async function startTemporalCluster(o: ClusterOptions): Promise<TemporalCluster> {
  const log = o.log ?? (() => undefined);
  const bin = binaries(o.serverDir);
  mkdirSync(o.dir, { recursive: true });
  log(`PostgreSQL 15 on 127.0.0.1:${o.postgresPort} (data in ${path.join(o.dir, 'postgres')})`);
  const pg = await startPostgres({
    dir: path.join(o.dir, 'postgres'),
    port: o.postgresPort,
    database: o.storeDatabase,
    throwaway: o.throwaway,
  });
  const processes: (ChildProcess | undefined)[] = [undefined, undefined];
  const killAll = () => processes.forEach((p) => p?.kill('SIGKILL'));
  process.once('exit', killAll);
  try {
    log('setting up the Temporal schemas');
    setupSchemas(bin.sqlTool, bin.schema, pg);
    const configDir = path.join(o.dir, 'config');
    writeConfigs(configDir, o, pg);

    const exits: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
    const spawnNode = (i: number) => {
      const logFile = path.join(o.dir, `${nodeName(i)}.log`);
      const out = openSync(logFile, 'a');
      const child = spawn(
        bin.server,
        ['--root', o.dir, '--config', 'config', '--env', nodeName(i), '--allow-no-auth', 'start'],
        { stdio: ['ignore', out, out] },
      );
      processes[i] = child;
      exits[i] = new Promise((resolve) => child.once('exit', () => resolve()));
      return logFile;
    };
    const downMessage = (i: number) => {
      const child = processes[i];
      if (child && child.exitCode === null && child.signalCode === null) return undefined;
      const logFile = path.join(o.dir, `${nodeName(i)}.log`);
      const tail = existsSync(logFile)
        ? readFileSync(logFile, 'utf8')
            .split('\n')
            .slice(-6)
            .map((l) => l.slice(0, 400))
            .join('\n')
        : '';
      return `Temporal ${nodeName(i)} exited (${child?.exitCode ?? child?.signalCode}); see ${logFile}:\n${tail}`;
    };

    const nodes = o.nodes.map((ports, i): ClusterNode => {
      const address = `127.0.0.1:${ports.frontend}`;
      return {
        name: nodeName(i),
        address,
        logFile: path.join(o.dir, `${nodeName(i)}.log`),
        get pid() {
          const c = processes[i];
          return c && c.exitCode === null && c.signalCode === null ? c.pid : undefined;
        },
        async kill(signal) {
          processes[i]?.kill(signal);
          await exits[i];
        },
        async restart() {
          spawnNode(i);
          await waitServing(address, () => downMessage(i));
        },
      };
    }) as [ClusterNode, ClusterNode];

    log(`starting Temporal server v${SERVER_VERSION}: ${nodes.map((n) => `${n.name} at ${n.address}`).join(', ')}`);
    // One after the other: on a fresh database both would write the cluster metadata, and the loser exits.
    for (const [i, n] of nodes.entries()) {
      spawnNode(i);
      await waitServing(n.address, () => downMessage(i));
    }
    log(`registering namespace ${o.namespace} and nightshift's search attributes`);
    await registerNamespace(nodes[0].address, o.namespace);

    let stopping: Promise<void> | undefined;
    return {
      namespace: o.namespace,
      postgres: pg,
      nodes,
      addresses: nodes.map((n) => n.address),
      stop() {
        stopping ??= (async () => {
          process.removeListener('exit', killAll);
          await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
          await pg.stop();
          if (o.throwaway) rmSync(o.dir, { recursive: true, force: true });
        })();
        return stopping;
      },
    };
  } catch (e) {
    killAll();
    process.removeListener('exit', killAll);
    await pg.stop();
    throw e;
  }
}
