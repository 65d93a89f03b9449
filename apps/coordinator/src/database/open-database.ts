import type { DatabaseConfig } from '../config/coordinator-config';
import type { Database } from './database';
import { EmbeddedDatabase } from './embedded-database';
import { PostgresDatabase } from './postgres-database';

/** `DATABASE_URL` → that Postgres; otherwise the embedded PGlite database in the data directory. */
export async function openDatabase(
  config: DatabaseConfig,
  onPoolError?: (err: Error) => void,
): Promise<Database> {
  return config.kind === 'postgres'
    ? PostgresDatabase.open({ url: config.url, poolMax: config.poolMax, onPoolError })
    : EmbeddedDatabase.open({ dataDir: config.dataDir });
}
