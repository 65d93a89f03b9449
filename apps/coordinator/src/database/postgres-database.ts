import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '@prisma/client';
import { Database, type SqlClient, type SqlTransactor } from './database';

export interface PostgresDatabaseOptions {
  url: string;
  poolMax?: number;
  /** Called with errors of idle pooled connections (they must not crash the process). */
  onPoolError?: (err: Error) => void;
}

/** A real Postgres server, shared by any number of coordinator replicas. */
export class PostgresDatabase extends Database {
  readonly kind = 'postgres' as const;
  readonly sql: SqlTransactor;

  private constructor(
    readonly pool: pg.Pool,
    readonly prisma: PrismaClient,
  ) {
    super();
    this.sql = {
      ...pgClient(pool),
      transaction: async (fn) => {
        const conn = await pool.connect();
        try {
          await conn.query('BEGIN');
          const result = await fn(pgClient(conn));
          await conn.query('COMMIT');
          return result;
        } catch (e) {
          await conn.query('ROLLBACK').catch(() => undefined);
          throw e;
        } finally {
          conn.release();
        }
      },
    };
  }

  static async open(options: PostgresDatabaseOptions): Promise<PostgresDatabase> {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolMax ?? 10,
      // Timestamps are exchanged as UTC whatever the server's default time zone is.
      options: '-c TimeZone=UTC',
    });
    pool.on('error', (err) => options.onPoolError?.(err));
    const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
    return new PostgresDatabase(pool, prisma);
  }

  describe(): string {
    const { host, port, database } = this.pool.options;
    return `Postgres at ${host ?? 'localhost'}:${port ?? 5432}/${database ?? ''}`;
  }

  async close(): Promise<void> {
    await this.prisma.$disconnect();
    await this.pool.end();
  }
}

function pgClient(client: pg.Pool | pg.PoolClient): SqlClient {
  return {
    query: async <R extends object>(text: string, params: readonly unknown[] = []) =>
      (await client.query<R & pg.QueryResultRow>(text, [...params])).rows,
    exec: async (script) => {
      await client.query(script);
    },
  };
}
