import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensurePrismaClient } from '../src/database/prisma-client-generation';
import { postgresBinariesAvailable, startPostgresCluster, type PostgresCluster } from './postgres-cluster';
import { TEMPLATE_DATABASE } from './test-database-names';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL of the throwaway Postgres cluster, or null when its binaries are missing. */
    coordinatorPostgresUrl: string | null;
    /** File holding a migrated PGlite data directory dump to start embedded test databases from. */
    coordinatorPgliteTemplate: string;
    /** The same before migrating: an empty cluster, without paying PGlite's initdb again. */
    coordinatorPgliteEmptyTemplate: string;
  }
}

/**
 * Once per test run, for the coordinator project: makes sure the Prisma client is generated, builds a migrated
 * embedded (PGlite) template, and starts a throwaway Postgres 15 cluster with a migrated template database.
 * Each spec file then clones its own fresh database from a template (testing/test-database.ts).
 *
 * Without Postgres binaries the Postgres half of every suite is skipped, except where `CI` or
 * `CASAM_REQUIRE_POSTGRES` is set: there a missing Postgres fails the run.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = performance.now();
  ensurePrismaClient();
  // Loaded only now: the Prisma client must be generated before anything imports it.
  const { EmbeddedDatabase } = await import('../src/database/embedded-database');
  const { PostgresDatabase } = await import('../src/database/postgres-database');
  const { migrateDeploy } = await import('../src/database/migrator');

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'casam-coordinator-test-'));
  const template = path.join(tmp, 'pglite-template.tar');
  const emptyTemplate = path.join(tmp, 'pglite-empty-template.tar');
  const embedded = await EmbeddedDatabase.open();
  try {
    const dump = async (file: string) =>
      fs.writeFileSync(file, Buffer.from(await (await embedded.pglite.dumpDataDir('none')).arrayBuffer()));
    await dump(emptyTemplate);
    await migrateDeploy(embedded.sql);
    await dump(template);
  } finally {
    await embedded.close();
  }
  project.provide('coordinatorPgliteTemplate', template);
  project.provide('coordinatorPgliteEmptyTemplate', emptyTemplate);

  let cluster: PostgresCluster | undefined;
  if (postgresBinariesAvailable()) {
    cluster = await startPostgresCluster();
    const admin = await PostgresDatabase.open({ url: cluster.url() });
    await admin.sql.exec(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
    await admin.close();
    const tpl = await PostgresDatabase.open({ url: cluster.url(TEMPLATE_DATABASE) });
    await migrateDeploy(tpl.sql);
    await tpl.close();
  } else if (process.env.CI || process.env.CASAM_REQUIRE_POSTGRES) {
    throw new Error(
      'Postgres binaries (initdb, pg_ctl) are not on PATH; the coordinator tests need them here',
    );
  } else {
    console.warn('coordinator tests: initdb/pg_ctl not on PATH, the Postgres backend tests are skipped');
  }
  project.provide('coordinatorPostgresUrl', cluster?.url() ?? null);
  console.log(`coordinator test databases ready in ${Math.round(performance.now() - t0)} ms`);

  return async () => {
    cluster?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  };
}
