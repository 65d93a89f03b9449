import type { BlobStoreConfig } from '../config/coordinator-config';
import type { Database } from '../database/database';
import type { BlobStore } from './blob-store';
import { FsBlobStore } from './fs-blob-store';
import { PostgresBlobStore } from './postgres-blob-store';

/** The configured blob store: a directory (default) or the coordinator's database. */
export async function openBlobStore(config: BlobStoreConfig, db: Database): Promise<BlobStore> {
  return config.driver === 'fs' ? FsBlobStore.open(config.dir) : new PostgresBlobStore(db);
}
