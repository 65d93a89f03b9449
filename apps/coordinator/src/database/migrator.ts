import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { SqlClient, SqlTransactor } from './database';

/** The committed migrations, `prisma/migrations` at the repository root. */
export const MIGRATIONS_DIR = path.resolve(__dirname, '../../../../prisma/migrations');

/**
 * Prisma's migration table, created exactly as `prisma migrate deploy` creates it, so the Prisma CLI
 * (`migrate status`, `migrate deploy`) and this migrator can take turns on the same database.
 */
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

/** The advisory lock key Prisma's schema engine takes, so the CLI and every replica exclude each other. */
const MIGRATION_LOCK_KEY = 72707369;

export interface MigrationFile {
  /** Folder name, e.g. `20261126000000_created_initial_schema`; migrations apply in name order. */
  name: string;
  /** sha256 (hex) of migration.sql, as Prisma records it. */
  checksum: string;
  sql: string;
}

export interface MigrationReport {
  applied: string[];
  alreadyApplied: number;
  /** Things an operator should look at that do not stop the start (edited or unknown migrations). */
  warnings: string[];
  durationMs: number;
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

/** Reads the committed migrations in the order they apply. */
export function readMigrations(dir: string = MIGRATIONS_DIR): MigrationFile[] {
  const lock = path.join(dir, 'migration_lock.toml');
  if (fs.existsSync(lock) && !/provider\s*=\s*"postgresql"/.test(fs.readFileSync(lock, 'utf8')))
    throw new MigrationError(`${lock} is not for the postgresql provider`);
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(dir, d.name, 'migration.sql')))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const bytes = fs.readFileSync(path.join(dir, name, 'migration.sql'));
      return {
        name,
        checksum: createHash('sha256').update(bytes).digest('hex'),
        sql: bytes.toString('utf8'),
      };
    });
}

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

/**
 * Applies the committed migrations that the database has not seen, the way `prisma migrate deploy` does,
 * without the Prisma CLI (the embedded PGlite database lives inside this process, where no CLI can reach it).
 *
 * Compatible bookkeeping: Prisma's `_prisma_migrations` table, same checksums, same advisory lock. Unlike the
 * CLI, all pending migrations run in ONE transaction: either all apply or none does, so a failed start leaves
 * the database as it was and the next start simply tries again. (So a migration must be transactional: no
 * `CREATE INDEX CONCURRENTLY`.) Idempotent: a second run applies nothing.
 */
export async function migrateDeploy(
  sql: SqlTransactor,
  migrations: MigrationFile[] = readMigrations(),
): Promise<MigrationReport> {
  const started = performance.now();
  const report = await sql.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.exec(CREATE_MIGRATIONS_TABLE);
    const rows = await tx.query<AppliedRow>(
      'SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at',
    );
    const warnings: string[] = [];
    const failed = rows.filter((r) => r.finished_at === null && r.rolled_back_at === null);
    if (failed.length > 0)
      throw new MigrationError(
        `the database has failed migrations (${failed.map((r) => r.migration_name).join(', ')}); ` +
          'resolve them with `prisma migrate resolve` before starting (see docs/coordinator.md)',
      );
    const done = new Map(rows.filter((r) => r.rolled_back_at === null).map((r) => [r.migration_name, r]));
    const local = new Set(migrations.map((m) => m.name));
    for (const r of done.values())
      if (!local.has(r.migration_name))
        warnings.push(
          `migration ${r.migration_name} is applied in the database but not in prisma/migrations`,
        );

    const applied: string[] = [];
    for (const m of migrations) {
      const row = done.get(m.name);
      if (row) {
        if (row.checksum !== m.checksum)
          warnings.push(`migration ${m.name} was edited after it was applied (checksum differs)`);
        continue;
      }
      await applyOne(tx, m);
      applied.push(m.name);
    }
    return { applied, alreadyApplied: done.size, warnings };
  });
  return { ...report, durationMs: Math.round(performance.now() - started) };
}

async function applyOne(tx: SqlClient, m: MigrationFile): Promise<void> {
  try {
    await tx.exec(m.sql);
  } catch (e) {
    throw new MigrationError(
      `migration ${m.name} failed, nothing was applied: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  await tx.query(
    `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
     VALUES ($1, $2, $3, clock_timestamp(), clock_timestamp(), 1)`,
    [randomUUID(), m.checksum, m.name],
  );
}
