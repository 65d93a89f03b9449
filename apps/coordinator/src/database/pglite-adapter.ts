import type { PGlite } from '@electric-sql/pglite';
import type { SqlDriverAdapterFactory } from '@prisma/client/runtime/library';
import { PrismaPGlite } from 'pglite-prisma-adapter';

type SqlDriverAdapter = Awaited<ReturnType<SqlDriverAdapterFactory['connect']>>;
type SqlQuery = Parameters<SqlDriverAdapter['queryRaw']>[0];

/**
 * Prisma's driver adapter for a PGlite instance: pglite-prisma-adapter 0.6.1, bridged to Prisma 6.19.
 *
 * That adapter was written against the driver-adapter protocol of Prisma 6.10. Queries and results still
 * line up; two things do not, and this wrapper fixes both, on the adapter and on every transaction it opens:
 *
 * - `Bytes` arguments: Prisma 6.19 hands them over as base64 strings and expects the adapter to decode them
 *   (as `@prisma/adapter-pg` does); the PGlite adapter passes them through and PGlite refuses a string for a
 *   bytea parameter.
 * - Errors: Prisma 6.19 expects constraint violations already classified (`UniqueConstraintViolation`, …) to
 *   raise its P2002/P2003/P2011 errors; the PGlite adapter reports raw Postgres errors, which would surface
 *   as unclassified errors. Classified here by SQLSTATE, as `@prisma/adapter-pg` does.
 */
export function prismaPgliteAdapter(pglite: PGlite): SqlDriverAdapterFactory {
  const inner = new PrismaPGlite(pglite);
  return {
    provider: 'postgres',
    adapterName: inner.adapterName,
    // The two protocol versions differ only in their declared types (argTypes) here; see above.
    connect: async () => withDecodedBytes((await inner.connect()) as unknown as SqlDriverAdapter),
  };
}

function withDecodedBytes<T extends object>(target: T): T {
  return new Proxy(target, {
    get(t, prop) {
      const value: unknown = Reflect.get(t, prop);
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      if (prop === 'queryRaw' || prop === 'executeRaw')
        return async (query: SqlQuery) => {
          try {
            return await fn.call(t, { ...query, args: decodeBytes(query) });
          } catch (e) {
            throw classified(e);
          }
        };
      if (prop === 'startTransaction')
        return async (...args: unknown[]) => withDecodedBytes((await fn.apply(t, args)) as object);
      return fn.bind(t);
    },
  });
}

function decodeBytes(query: SqlQuery): unknown[] {
  return query.args.map((arg, i) => {
    if (query.argTypes[i]?.scalarType !== 'bytes') return arg;
    const decode = (v: unknown) => (typeof v === 'string' ? Buffer.from(v, 'base64') : v);
    return Array.isArray(arg) ? arg.map(decode) : decode(arg);
  });
}

/** The fields of a raw Postgres error as the PGlite adapter reports it (`kind: 'postgres'`). */
interface PostgresErrorCause {
  kind: 'postgres';
  code: string;
  message: string;
  detail?: string;
  column?: string;
}

function classified(e: unknown): unknown {
  const cause = (e as { name?: unknown; cause?: Partial<PostgresErrorCause> } | null)?.cause;
  if ((e as { name?: unknown } | null)?.name !== 'DriverAdapterError' || cause?.kind !== 'postgres') return e;
  const raw = cause as PostgresErrorCause;
  const fields =
    raw.detail?.match(/Key \(([^)]+)\)/)?.[1]?.split(', ') ?? (raw.column ? [raw.column] : undefined);
  const constraint = fields ? { fields } : undefined;
  const kinds: Record<string, Record<string, unknown>> = {
    '23505': { kind: 'UniqueConstraintViolation', constraint },
    '23502': { kind: 'NullConstraintViolation', constraint },
    '23503': { kind: 'ForeignKeyConstraintViolation', constraint },
    // Postgres 18 (PGlite 0.5) reports ON DELETE RESTRICT as restrict_violation; Postgres 15 as 23503.
    '23001': { kind: 'ForeignKeyConstraintViolation', constraint },
    '22001': { kind: 'LengthMismatch', column: raw.column },
    '22003': { kind: 'ValueOutOfRange', cause: raw.message },
    '40001': { kind: 'TransactionWriteConflict' },
  };
  const kind = kinds[raw.code];
  if (!kind) return e;
  // Prisma recognises adapter errors by name and a `cause` object, not by class.
  const error = new Error(raw.message, {
    cause: { originalCode: raw.code, originalMessage: raw.message, ...kind },
  });
  error.name = 'DriverAdapterError';
  return error;
}
