import 'reflect-metadata';
import { type INestApplication, type LoggerService, ShutdownSignal } from '@nestjs/common';
import { EXIT_CODES } from '@casam/protocol';
import { createCoordinatorApp } from './app.factory';
import { loadOrCreateSecret } from './auth/coordinator-secret';
import { openBlobStore } from './blobs/open-blob-store';
import { type CoordinatorConfig, loadConfig, redactUrl } from './config/coordinator-config';
import type { Database } from './database/database';
import { migrateDeploy } from './database/migrator';
import { openDatabase } from './database/open-database';
import { HealthService } from './health/health.service';
import { createLogger } from './logger';

/** The signals an operator (or an orchestrator) stops the coordinator with: drained first, see below. */
const STOP_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
/** Longest a clean close may take after the drain. */
const CLOSE_TIMEOUT_MS = 15_000;

export interface RunningCoordinator {
  app: INestApplication;
  url: string;
  database: Database;
  timings: { openDatabaseMs: number; migrateMs: number; bootMs: number };
}

/**
 * Starts the coordinator: open the database, apply pending migrations (`migrate deploy`), open the blob store,
 * build the app, listen. Fails fast, before listening, if any step fails.
 */
export async function startCoordinator(
  config: CoordinatorConfig = loadConfig(),
): Promise<RunningCoordinator> {
  const t0 = performance.now();
  const logger = createLogger(config.log);
  const database = await openDatabase(config.database, (err) =>
    logger.error(`database pool: ${err.message}`, undefined, 'Database'),
  );
  const t1 = performance.now();
  try {
    const migration = await migrateDeploy(database.sql);
    const t2 = performance.now();
    for (const w of migration.warnings) logger.warn(w, 'Migrations');
    logger.log(
      `${database.describe()}: ${migration.applied.length} migration(s) applied, ${migration.alreadyApplied} already there (${migration.durationMs} ms)`,
      'Migrations',
    );
    const blobStore = await openBlobStore(config.blobStore, database);
    const { secret, source } = loadOrCreateSecret(process.env.COORDINATOR_SECRET, config.dataDir);
    logger.log(`secret from ${source}`, 'Coordinator');
    const app = await createCoordinatorApp(
      { config, database, blobStore, secret },
      logger,
      Object.values(ShutdownSignal).filter((s) => !(STOP_SIGNALS as string[]).includes(s)),
    );
    handleStopSignals(app, config.shutdownDrainSeconds, logger);
    await app.listen(config.port, config.host);
    const address = app.getHttpServer().address() as { port: number };
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${address.port}`;
    const timings = {
      openDatabaseMs: Math.round(t1 - t0),
      migrateMs: Math.round(t2 - t1),
      bootMs: Math.round(performance.now() - t0),
    };
    logger.log(
      `listening on ${url} (blob store: ${blobStore.driver}; boot ${timings.bootMs} ms: database ${timings.openDatabaseMs} ms, migrations ${timings.migrateMs} ms)`,
      'Coordinator',
    );
    return { app, url, database, timings };
  } catch (e) {
    await database.close().catch(() => undefined);
    throw e;
  }
}

/**
 * SIGTERM/SIGINT: `/readyz` answers 503 `draining` for `drainSeconds` while everything keeps working (the load
 * balancer stops sending new connections), then the app closes (sockets end; agents reconnect through the
 * balancer to another replica) and the process exits with the signal, as Nest's own hooks do.
 */
function handleStopSignals(app: INestApplication, drainSeconds: number, logger: LoggerService): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    for (const s of STOP_SIGNALS) process.removeListener(s, onSignal);
    void (async () => {
      if (drainSeconds > 0) {
        app.get(HealthService).startDraining();
        logger.log(
          `${signal}: draining for ${drainSeconds} s (readyz answers 503), then closing`,
          'Coordinator',
        );
        await new Promise((r) => setTimeout(r, drainSeconds * 1000));
      }
      // a close that hangs (a stuck connection) must not keep a replica half-alive: give up after a while
      const stuck = setTimeout(() => {
        logger.error(
          `not closed within ${CLOSE_TIMEOUT_MS / 1000} s; exiting anyway`,
          undefined,
          'Coordinator',
        );
        process.exit(EXIT_CODES.internal);
      }, CLOSE_TIMEOUT_MS);
      stuck.unref();
      try {
        await app.close();
      } catch (e) {
        logger.error(`closing failed: ${(e as Error).stack ?? String(e)}`, undefined, 'Coordinator');
      }
      clearTimeout(stuck);
      process.kill(process.pid, signal);
    })();
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
}

/** `coordinator serve`: runs until SIGINT/SIGTERM. Returns the exit code when startup fails. */
export async function main(): Promise<number> {
  let config: CoordinatorConfig;
  try {
    config = loadConfig();
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    return EXIT_CODES.usage;
  }
  try {
    await startCoordinator(config);
    return await new Promise<number>(() => undefined); // serve until a signal; Nest's shutdown hooks close
  } catch (e) {
    const where =
      config.database.kind === 'postgres' ? redactUrl(config.database.url) : config.database.dataDir;
    console.error(`coordinator failed to start (database ${where}):`, e);
    return EXIT_CODES.internal;
  }
}
