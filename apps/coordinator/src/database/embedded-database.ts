import path from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { PrismaClient } from '@prisma/client';
import { makePrivateDir, restrictTree } from '../common/private-files';
import { Database, type SqlClient, type SqlTransactor } from './database';
import { DataDirLock } from './data-dir-lock';
import { prismaPgliteAdapter } from './pglite-adapter';

export interface EmbeddedDatabaseOptions {
  /** Directory holding the data; omitted: in memory (tests). */
  dataDir?: string;
  /** Start from this data directory dump (`PGlite.dumpDataDir`) instead of an empty cluster. */
  loadDataDir?: Blob;
}

/**
 * The embedded default: Postgres compiled to WebAssembly (PGlite) running inside the coordinator process,
 * with its data in a directory. No server to install; one process at a time (guarded by a pid lock file).
 */
export class EmbeddedDatabase extends Database {
  readonly kind = 'pglite' as const;
  readonly sql: SqlTransactor;

  private constructor(
    readonly pglite: PGlite,
    readonly prisma: PrismaClient,
    private readonly dataDir: string | undefined,
    private readonly lock: DataDirLock | undefined,
  ) {
    super();
    this.sql = {
      ...pgliteClient(pglite),
      transaction: (fn) => pglite.transaction((tx) => fn(pgliteClient(tx))),
    };
  }

  static async open(options: EmbeddedDatabaseOptions = {}): Promise<EmbeddedDatabase> {
    const { dataDir, loadDataDir } = options;
    let lock: DataDirLock | undefined;
    if (dataDir) {
      makePrivateDir(path.dirname(dataDir));
      lock = DataDirLock.acquire(`${dataDir}.lock`);
    }
    try {
      // Made here (PGlite would make it with the umask's mode) and made private again once PGlite has
      // unpacked or opened the cluster: see restrictTree.
      if (dataDir) makePrivateDir(dataDir);
      const pglite = await PGlite.create({ dataDir, loadDataDir });
      if (dataDir) restrictTree(dataDir);
      const prisma = new PrismaClient({ adapter: prismaPgliteAdapter(pglite) });
      return new EmbeddedDatabase(pglite, prisma, dataDir, lock);
    } catch (e) {
      lock?.release();
      throw e;
    }
  }

  describe(): string {
    return this.dataDir ? `embedded PGlite in ${this.dataDir}` : 'embedded PGlite in memory';
  }

  async close(): Promise<void> {
    try {
      await this.prisma.$disconnect();
      if (!this.pglite.closed) await this.pglite.close();
      // files Postgres (re)wrote while open through the umask (pg_internal.init)
      if (this.dataDir) restrictTree(this.dataDir);
    } finally {
      this.lock?.release();
    }
  }
}

function pgliteClient(db: PGlite | Transaction): SqlClient {
  return {
    query: async <R extends object>(text: string, params: readonly unknown[] = []) =>
      (await db.query<R>(text, [...params])).rows,
    exec: async (script) => {
      await db.exec(script);
    },
  };
}
