import type { SqlClient } from '../src/database/database';

/**
 * The schema as the catalog sees it (tables, columns, indexes, constraints, enums) plus the migration
 * bookkeeping, as sorted text lines: two databases built the same way give equal snapshots.
 */
export async function schemaSnapshot(sql: SqlClient): Promise<Record<string, string[]>> {
  const lines = async (text: string) =>
    (await sql.query<Record<string, unknown>>(text))
      .map((r) => Object.values(r).map(String).join(' | '))
      .sort();
  return {
    columns: await lines(
      `SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default,
              character_maximum_length, datetime_precision
         FROM information_schema.columns WHERE table_schema = 'public'`,
    ),
    indexes: await lines(`SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'`),
    constraints: await lines(
      `SELECT conrelid::regclass::text AS tbl, conname, contype::text, pg_get_constraintdef(oid) AS def
         FROM pg_constraint
        WHERE connamespace = 'public'::regnamespace AND contype IN ('p', 'f', 'u', 'c')`,
    ),
    enums: await lines(
      `SELECT t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
         FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
         JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public' GROUP BY t.typname`,
    ),
    migrations: await lines(
      `SELECT migration_name, checksum, applied_steps_count, finished_at IS NOT NULL AS finished,
              rolled_back_at IS NULL AS live
         FROM "_prisma_migrations"`,
    ),
  };
}
