/** Opens the state store NIGHTSHIFT_STORE names (common/config.ts). */
import { stateDir, type NightshiftConfig } from '../config';
import { FileStateStore } from './file';
import { PostgresStateStore } from './postgres';
import type { StateStore } from './types';

export type { RecordKind, StateStore } from './types';
export { FileStateStore, safeWorkflowDirName } from './file';

/**
 * A new backend (an S3-compatible bucket: records as small objects, blobs as multipart
 * uploads, insert-if-absent as a conditional `If-None-Match: *` put) is one more branch here.
 */
export async function openStateStore(config: Pick<NightshiftConfig, 'root' | 'store'>): Promise<StateStore> {
  if (config.store.kind === 'postgres') return PostgresStateStore.open(config.store.url);
  return new FileStateStore({ dir: stateDir(config) });
}
