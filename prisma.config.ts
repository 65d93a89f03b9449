import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { defineConfig } from 'prisma/config';

/**
 * Prisma CLI configuration. The CLI runs its JavaScript schema engine through a driver adapter, so no engine
 * binary is ever downloaded (the classic engine cannot be fetched offline). `generate`, `format` and
 * `validate` need no database; `migrate deploy|status|diff|resolve` work on the Postgres in `DATABASE_URL`.
 *
 * The embedded PGlite database lives inside the coordinator process, where the CLI cannot reach it: the
 * coordinator applies the committed migrations itself at start, or on demand with
 * `npm run migrate -w @casam/coordinator` (apps/coordinator/src/database/migrator.ts, same bookkeeping).
 */
export default defineConfig({
  experimental: { adapter: true },
  schema: path.join('prisma', 'schema.prisma'),
  migrations: { path: path.join('prisma', 'migrations') },
  engine: 'js',
  async adapter() {
    const url = process.env.DATABASE_URL;
    if (!url)
      throw new Error(
        'set DATABASE_URL to the Postgres to work on; the embedded database is migrated by the coordinator ' +
          '(npm run migrate -w @casam/coordinator)',
      );
    return new PrismaPgForCli(url);
  },
});

/**
 * `@prisma/adapter-pg` 6.19 as the CLI needs it. Its own shadow database (used by `migrate diff
 * --from-migrations` and `migrate dev`) reuses the main connection string, so it never leaves the main
 * database, and is dropped while still connected; this one is a database of its own, dropped after use.
 */
class PrismaPgForCli extends PrismaPg {
  constructor(private readonly url: string) {
    super(poolReadingCatalogTypesAsText(url), { disposeExternalPool: true });
  }

  override async connectToShadowDb() {
    const name = `prisma_migrate_shadow_db_${randomUUID().replaceAll('-', '')}`;
    await runOnce(this.url, `CREATE DATABASE "${name}"`);
    const shadowUrl = new URL(this.url);
    shadowUrl.pathname = `/${name}`;
    const adapter = await new PrismaPg(poolReadingCatalogTypesAsText(shadowUrl.toString()), {
      disposeExternalPool: true,
    }).connect();
    const dispose = adapter.dispose.bind(adapter);
    adapter.dispose = async () => {
      await dispose();
      await runOnce(this.url, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    };
    return adapter;
  }
}

async function runOnce(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

const TEXT_OID = 25;
const TEXT_ARRAY_OID = 1009;
// Catalog types the schema engine reads that adapter-pg refuses, all plain strings: "char", name, int2vector,
// regproc, oidvector, pg_node_tree, regclass, regtype; and arrays of "char" and name.
const CATALOG_STRING_OIDS = new Set([18, 19, 22, 24, 30, 194, 2205, 2206]);
const CATALOG_STRING_ARRAY_OIDS = new Set([1002, 1003]);

/**
 * Works around prisma/orm#27403: the schema engine reads catalog columns of types such as `name` and
 * `"char"`, which `@prisma/adapter-pg` 6.19 refuses ("Column type 'name' could not be deserialized"). Their
 * values are plain strings, so such columns are relabelled as `text` before the adapter sees them.
 */
function poolReadingCatalogTypesAsText(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url });
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    // pg.Pool calls client.query with a callback; Prisma's transactions call it for a promise.
    const relabelled = (...args: unknown[]): unknown => {
      const last = args[args.length - 1];
      if (typeof last === 'function') {
        const callback = last as (err: unknown, res: unknown) => void;
        return query(...args.slice(0, -1), (err: unknown, res: unknown) =>
          callback(err, relabelCatalogColumns(res)),
        );
      }
      const result = query(...args);
      return result instanceof Promise ? result.then(relabelCatalogColumns) : result;
    };
    client.query = relabelled as typeof client.query;
  });
  return pool;
}

function relabelCatalogColumns<T>(result: T): T {
  for (const r of Array.isArray(result) ? result : [result]) {
    const fields = (r as { fields?: { dataTypeID: number }[] } | undefined)?.fields ?? [];
    for (const f of fields) {
      if (CATALOG_STRING_OIDS.has(f.dataTypeID)) f.dataTypeID = TEXT_OID;
      else if (CATALOG_STRING_ARRAY_OIDS.has(f.dataTypeID)) f.dataTypeID = TEXT_ARRAY_OID;
    }
  }
  return result;
}
