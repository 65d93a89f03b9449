import type { TestProject } from 'vitest/node';
// The coordinator test harness's throwaway Postgres cluster (test code, not the app): reused, not copied.
import {
  type PostgresCluster,
  postgresBinariesAvailable,
  startPostgresCluster,
} from '@casam/coordinator/testing';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL of a throwaway Postgres cluster for e2e coordinator processes, or null (embedded PGlite). */
    e2ePostgresUrl: string | null;
  }
}

/**
 * Which database the e2e coordinator processes that ask for Postgres get: `CASAM_E2E_DATABASE=postgres` starts a
 * throwaway Postgres cluster (binaries required), `=pglite` never does; unset, a cluster is started in CI when
 * `initdb`/`pg_ctl` are on PATH. Each coordinator process then gets a database of its own in it.
 */
export function e2eDatabaseChoice(env: NodeJS.ProcessEnv = process.env): 'postgres' | 'pglite' {
  const asked = env['CASAM_E2E_DATABASE'];
  if (asked === 'postgres') return 'postgres';
  if (asked === 'pglite') return 'pglite';
  if (asked !== undefined && asked !== '')
    throw new Error(`CASAM_E2E_DATABASE must be "postgres" or "pglite" (got "${asked}")`);
  return env['CI'] && postgresBinariesAvailable() ? 'postgres' : 'pglite';
}

export default async function setup(project: TestProject): Promise<() => void> {
  let cluster: PostgresCluster | undefined;
  if (e2eDatabaseChoice() === 'postgres') {
    if (!postgresBinariesAvailable())
      throw new Error('CASAM_E2E_DATABASE=postgres but initdb/pg_ctl are not on PATH');
    const t0 = performance.now();
    cluster = await startPostgresCluster();
    console.log(`e2e: Postgres cluster on port ${cluster.port} in ${Math.round(performance.now() - t0)} ms`);
  }
  project.provide('e2ePostgresUrl', cluster?.url() ?? null);
  return () => cluster?.stop();
}
