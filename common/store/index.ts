/** Opens the state store NIGHTSHIFT_STORE names (common/config.ts). */
import * as path from 'node:path';
import { stateDir, type NightshiftConfig } from '../config';
import { FileStateStore } from './file';
import type { StateStore } from './types';

export type { RecordKind, StateStore } from './types';
export { FileStateStore, safeWorkflowDirName } from './file';

/**
 * The `file` store of a root: `<root>/.nightshift/<kind>/…`, except learned and pending
 * skills, which stay where people have always found and edited them, `<root>/skills/learned/`
 * and `<root>/skills/pending/`.
 */
export function fileStoreFor(config: Pick<NightshiftConfig, 'root'>): FileStateStore {
  return new FileStateStore({ dir: stateDir(config), dirs: { 'learned-skills': path.join(config.root, 'skills') } });
}

/**
 * A new backend (an S3-compatible bucket: records as small objects, blobs as multipart
 * uploads, insert-if-absent as a conditional `If-None-Match: *` put) is one more branch here.
 */
export async function openStateStore(config: Pick<NightshiftConfig, 'root' | 'store'>): Promise<StateStore> {
  if (config.store.kind === 'postgres') {
    // Loaded only for a postgres store: pg costs every file-store process (and every CLI command) its start-up time.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { PostgresStateStore } = require('./postgres') as typeof import('./postgres');
    return PostgresStateStore.open(config.store.url);
  }
  return fileStoreFor(config);
}

/** Runs `fn` with the store NIGHTSHIFT_STORE names, closed afterwards: for CLI commands that read or write a few records. */
export async function withStateStore<T>(
  config: Pick<NightshiftConfig, 'root' | 'store'>,
  fn: (store: StateStore) => Promise<T>,
): Promise<T> {
  const store = await openStateStore(config);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
