/** Connects the CLI to Temporal, with an error that says what to do when nothing answers. */
import { Client, Connection } from '@temporalio/client';
import type { NightshiftConfig } from '../common/config';
import { CliError, EXIT } from './errors';

export async function connectClient(config: NightshiftConfig): Promise<Client> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...config.temporal.connection, connectTimeout: '3s' } as Parameters<
      typeof Connection.connect
    >[0]);
  } catch (err) {
    throw new CliError(
      `cannot reach Temporal at ${config.temporal.address} (${(err as Error).message}).\n` +
        `Start the embedded dev server with 'npm run server', or point at another with --address, --env PROFILE or TEMPORAL_ADDRESS.`,
      EXIT.unavailable,
    );
  }
  return new Client({ connection, namespace: config.temporal.namespace });
}
