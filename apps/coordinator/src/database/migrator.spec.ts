import { afterEach, describe, expect, it } from 'vitest';
import { MigrationError, migrateDeploy, readMigrations, type MigrationFile } from './migrator';
import { PostgresDatabase } from './postgres-database';
import { runPrismaCli } from '../../testing/prisma-cli';
import { schemaSnapshot } from '../../testing/schema-snapshot';
import {
  createEmptyPostgresDatabase,
  describeEachBackend,
  openEmptyEmbeddedDatabase,
  testPostgresUrl,
} from '../../testing/test-database';

const committed = readMigrations();
const extra = (name: string, sql: string): MigrationFile => ({ name, sql, checksum: name.padEnd(64, '0') });

describe('readMigrations', () => {
  it('reads the committed migrations in order, with Prisma checksums', () => {
    expect(committed.length).toBeGreaterThan(0);
    expect(committed[0].name).toBe('20261126000000_created_initial_schema');
    expect(committed.map((m) => m.name)).toEqual([...committed.map((m) => m.name)].sort());
    for (const m of committed) expect(m.checksum).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('migrateDeploy on an empty embedded database', () => {
  it('applies every migration once, then nothing, and the Prisma client works on the result', async () => {
    const db = await openEmptyEmbeddedDatabase();
    try {
      const first = await migrateDeploy(db.sql);
      expect(first.applied).toEqual(committed.map((m) => m.name));
      expect(first.warnings).toEqual([]);
      const again = await migrateDeploy(db.sql);
      expect(again).toMatchObject({ applied: [], alreadyApplied: committed.length, warnings: [] });
      expect(await db.prisma.admin.count()).toBe(0);
    } finally {
      await db.close();
    }
  });
});

describe.skipIf(!testPostgresUrl())('migrateDeploy against the Prisma CLI on Postgres', () => {
  const dbs: { drop(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(dbs.splice(0).map((d) => d.drop()));
  });

  it('builds the same schema and bookkeeping as `prisma migrate deploy`, and the CLI agrees it is done', async () => {
    const viaCli = await createEmptyPostgresDatabase();
    const viaUs = await createEmptyPostgresDatabase();
    dbs.push(viaCli, viaUs);

    const b = await PostgresDatabase.open({ url: viaUs.url, poolMax: 1 });
    const embedded = await openEmptyEmbeddedDatabase();
    const [deploy] = await Promise.all([
      runPrismaCli(['migrate', 'deploy'], viaCli.url),
      migrateDeploy(b.sql),
      migrateDeploy(embedded.sql),
    ]);
    expect(deploy.code, deploy.output).toBe(0);
    const a = await PostgresDatabase.open({ url: viaCli.url, poolMax: 1 });
    try {
      const expected = await schemaSnapshot(a.sql);
      expect(expected.columns.length).toBeGreaterThan(100);
      expect(await schemaSnapshot(b.sql)).toEqual(expected);
      // The embedded default (PGlite, Postgres 18 in wasm) ends up with the very same schema.
      expect(await schemaSnapshot(embedded.sql)).toEqual(expected);
    } finally {
      await Promise.all([a.close(), b.close(), embedded.close()]);
    }

    const [status, redeploy] = await Promise.all([
      runPrismaCli(['migrate', 'status'], viaUs.url),
      runPrismaCli(['migrate', 'deploy'], viaUs.url),
    ]);
    expect(status.output).toContain('Database schema is up to date');
    expect(redeploy.code, redeploy.output).toBe(0);
    expect(redeploy.output).toContain('No pending migrations to apply');
  });

  it('the committed migrations produce exactly prisma/schema.prisma (no drift)', async () => {
    const diff = await runPrismaCli(
      [
        'migrate',
        'diff',
        '--from-migrations',
        'prisma/migrations',
        '--to-schema-datamodel',
        'prisma/schema.prisma',
        '--exit-code',
      ],
      testPostgresUrl() ?? '',
    );
    expect(diff.output).toContain('No difference detected');
    expect(diff.code).toBe(0);
  });

  it('replicas starting at once apply each migration exactly once', async () => {
    const empty = await createEmptyPostgresDatabase();
    dbs.push(empty);
    const replicas = await Promise.all(
      [1, 2, 3].map(() => PostgresDatabase.open({ url: empty.url, poolMax: 2 })),
    );
    try {
      const reports = await Promise.all(replicas.map((r) => migrateDeploy(r.sql)));
      expect(reports.flatMap((r) => r.applied).sort()).toEqual(committed.map((m) => m.name));
      const rows = await replicas[0].sql.query('SELECT 1 FROM "_prisma_migrations"');
      expect(rows).toHaveLength(committed.length);
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
    }
  });
});

describeEachBackend('migrateDeploy on a migrated database', (db) => {
  it('is all or nothing: a failing migration leaves no trace of the ones before it', async () => {
    const err = await migrateDeploy(db().sql, [
      ...committed,
      extra('20990101000000_added_good_table', 'CREATE TABLE good_table (id int);'),
      extra('20990102000000_broke_things', 'ALTER TABLE no_such_table ADD COLUMN x int;'),
    ]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toMatch(
      /20990102000000_broke_things failed, nothing was applied: .*no_such_table/,
    );
    expect(await db().sql.query(`SELECT 1 FROM pg_tables WHERE tablename = 'good_table'`)).toEqual([]);
    const rows = await db().sql.query<{ migration_name: string }>(
      'SELECT migration_name FROM "_prisma_migrations"',
    );
    expect(rows.map((r) => r.migration_name)).toEqual(committed.map((m) => m.name));
  });

  it('warns about edited and unknown migrations without stopping', async () => {
    const edited = committed.map((m) => ({ ...m, checksum: 'f'.repeat(64) }));
    expect((await migrateDeploy(db().sql, edited)).warnings[0]).toMatch(/was edited after it was applied/);
    expect((await migrateDeploy(db().sql, [])).warnings[0]).toMatch(/applied in the database but not in/);
  });

  it('refuses to start over a migration the Prisma CLI left failed', async () => {
    await db().sql.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name) VALUES ('x-failed', $1, 'x_failed')`,
      ['0'.repeat(64)],
    );
    try {
      await expect(migrateDeploy(db().sql)).rejects.toThrow(/failed migrations \(x_failed\)/);
    } finally {
      await db().sql.query(`DELETE FROM "_prisma_migrations" WHERE id = 'x-failed'`);
    }
  });
});
