import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, inject } from 'vitest';
import type { Database } from '../src/database/database';
import { EmbeddedDatabase } from '../src/database/embedded-database';
import { PostgresDatabase } from '../src/database/postgres-database';
import { TEMPLATE_DATABASE } from './test-database-names';

export type TestBackend = 'pglite' | 'postgres';

export const TEST_BACKENDS: readonly TestBackend[] = ['pglite', 'postgres'];

const LABEL: Record<TestBackend, string> = { pglite: 'embedded PGlite', postgres: 'Postgres' };

/** Admin URL of the test run's Postgres cluster, or null when it could not be started here. */
export function testPostgresUrl(): string | null {
  return inject('coordinatorPostgresUrl');
}

/** An in-memory embedded database with nothing in it (not even the migration table). */
export async function openEmptyEmbeddedDatabase(): Promise<EmbeddedDatabase> {
  const dump = fs.readFileSync(inject('coordinatorPgliteEmptyTemplate'));
  return EmbeddedDatabase.open({ loadDataDir: new Blob([dump]) });
}

/** Creates an empty database (no schema) on the test cluster and returns its URL. */
export async function createEmptyPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  return createPostgresDatabase(null);
}

/**
 * A fresh, migrated database of its own: for Postgres a clone of the migrated template
 * (`CREATE DATABASE … TEMPLATE`), for PGlite an in-memory instance loaded from the migrated template dump.
 * Closing it also drops a Postgres clone.
 */
export async function openTestDatabase(backend: TestBackend): Promise<Database> {
  if (backend === 'pglite') {
    const dump = fs.readFileSync(inject('coordinatorPgliteTemplate'));
    return EmbeddedDatabase.open({ loadDataDir: new Blob([dump]) });
  }
  const { url, drop } = await createPostgresDatabase(TEMPLATE_DATABASE);
  const db = await PostgresDatabase.open({ url, poolMax: 4 });
  const close = db.close.bind(db);
  db.close = async () => {
    await close();
    await drop();
  };
  return db;
}

async function createPostgresDatabase(
  template: string | null,
): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = testPostgresUrl();
  if (!admin) throw new Error('no test Postgres cluster (initdb/pg_ctl missing)');
  const name = `casam_test_${randomBytes(6).toString('hex')}`;
  const run = async (statement: string) => {
    const db = await PostgresDatabase.open({ url: admin, poolMax: 1 });
    try {
      await db.sql.exec(statement);
    } finally {
      await db.close();
    }
  };
  await run(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`);
  return {
    url: admin.replace(/\/[^/]*$/, `/${name}`),
    drop: () => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/** Empties every table except the migration bookkeeping, so each test starts from nothing. */
export async function truncateAll(db: Database): Promise<void> {
  const tables = await db.sql.query<{ tablename: string }>(
    `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'`,
  );
  if (tables.length > 0)
    await db.sql.exec(
      `TRUNCATE ${tables.map((t) => `"${t.tablename}"`).join(', ')} RESTART IDENTITY CASCADE`,
    );
}

/**
 * Runs the same suite once per storage backend, each on a fresh database of its own: the repository
 * contract. Postgres is skipped (with its reason in the name) when the test cluster is not available.
 */
export function describeEachBackend(
  title: string,
  suite: (db: () => Database, backend: TestBackend) => void,
): void {
  for (const backend of TEST_BACKENDS) {
    const unavailable = backend === 'postgres' && !testPostgresUrl();
    const name = `${title} [${LABEL[backend]}]${unavailable ? ' (no Postgres binaries here)' : ''}`;
    describe.skipIf(unavailable)(name, () => {
      let db: Database | undefined;
      beforeAll(async () => {
        db = await openTestDatabase(backend);
      });
      afterAll(async () => {
        await db?.close();
      });
      suite(() => {
        if (!db) throw new Error('test database not open yet');
        return db;
      }, backend);
    });
  }
}
