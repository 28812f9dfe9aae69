/** Entry point of a worker process (`nightshift worker`, the Docker image, crash tests). */
import { loadConfig } from '../common/config';
import { shutdownIsolation } from '../sandbox/local';
import { connectWorker, createNightshiftWorker } from './index';

export async function runWorker(): Promise<void> {
  const config = loadConfig();
  const connection = await connectWorker(config);
  const worker = await createNightshiftWorker({ config, connection });
  console.error(`nightshift worker: task queue nightshift on ${config.temporal.address} (namespace ${config.temporal.namespace}), root ${config.root}`);
  // Worker.run() resolves after SIGINT/SIGTERM, once in-flight tasks are handed back.
  await worker.run();
  await connection.close();
  // The sandbox runtime's network proxies would otherwise keep the process alive.
  await shutdownIsolation();
}

if (require.main === module) {
  runWorker().catch((err) => {
    console.error(`nightshift worker: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
