import type { PrismaClient } from '@prisma/client';

/** Plain SQL on the coordinator's database, for what Prisma does not do well (migrations, blob bytes). */
export interface SqlClient {
  /** One statement with `$1`-style parameters; rows as objects. */
  query<R extends object = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
  /** A script of several statements, no parameters. */
  exec(script: string): Promise<void>;
}

export interface SqlTransactor extends SqlClient {
  /** Runs `fn` in one transaction on one connection: committed if it resolves, rolled back if it throws. */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
}

export type DatabaseKind = 'pglite' | 'postgres';

/**
 * The coordinator's database: a Prisma client and a plain SQL client on the same data. Two implementations:
 * the embedded PGlite default and a real Postgres server. Both run the same schema and migrations.
 */
export abstract class Database {
  abstract readonly kind: DatabaseKind;
  abstract readonly prisma: PrismaClient;
  abstract readonly sql: SqlTransactor;
  /** Where the data lives, for logs (no secrets). */
  abstract describe(): string;
  abstract close(): Promise<void>;

  /** Throws when the database does not answer. */
  async ping(): Promise<void> {
    await this.sql.query('SELECT 1');
  }
}
