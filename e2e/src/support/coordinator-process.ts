import { inject } from 'vitest';
// The launcher is the coordinator's test kit, shared with the benchmarks and the demo; only the choice of
// database (the e2e Postgres cluster, handed over by vitest) is e2e's own.
import {
  adminLogin,
  type CoordinatorProcess,
  type CoordinatorProcessOptions,
  createPostgresDatabase,
  freePort,
  runCoordinatorCli,
  spawnCoordinatorServe,
  startCoordinatorProcess as startProcess,
} from '@casam/coordinator/testing';

export { adminLogin, type CoordinatorProcess, freePort, runCoordinatorCli, spawnCoordinatorServe };

export interface StartOptions extends Pick<CoordinatorProcessOptions, 'env' | 'restartOf'> {
  /**
   * Run on a fresh database of the e2e Postgres cluster when one runs (`CASAM_E2E_DATABASE=postgres`, or CI
   * with the binaries; see global-setup.ts); otherwise, and by default, on the embedded database.
   */
  postgres?: boolean;
}

/**
 * A real coordinator process (see the kit's startCoordinatorProcess) in a temp dir, on the embedded database or a
 * database of the e2e Postgres cluster (see {@link StartOptions.postgres}).
 */
export async function startCoordinatorProcess(opts: StartOptions = {}): Promise<CoordinatorProcess> {
  const cluster = !opts.restartOf && opts.postgres ? inject('e2ePostgresUrl') : null;
  return startProcess({
    env: opts.env,
    restartOf: opts.restartOf,
    databaseUrl: cluster ? await createPostgresDatabase(cluster) : undefined,
  });
}
