import fs from 'node:fs';
import path from 'node:path';
import { type CheckResult, preflightCheck } from '@casam/protocol';
import { BlobStore } from '../blobs/blob-store';
import { openBlobStore } from '../blobs/open-blob-store';
import { deriveKey, loadOrCreateSecret, SECRET_FILE } from '../auth/coordinator-secret';
import { type CoordinatorConfig, parseConfig, configBaseDir, redactUrl } from '../config/coordinator-config';
import { DataDirLockedError } from '../database/data-dir-lock';
import type { Database } from '../database/database';
import { readMigrations } from '../database/migrator';
import { openDatabase } from '../database/open-database';
import { unsealPrivateJwk } from '../signing-keys/signing-key-seal';
import { openToOthers } from '../common/private-files';

export type { CheckResult, CheckStatus } from '@casam/protocol';

const GiB = 1024 ** 3;
const { ok, warn, fail, skip } = preflightCheck;
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Checks what the coordinator needs before it serves, without starting it and without changing anything it
 * does not itself create on start: configuration, data directory (writable, not open to others, free space),
 * the root secret (present, well-formed, mode 0600), the database (reachable, migrations applied, none failed
 * or unknown), the blob store (readable and writable) and the active bundle-signing key (present and unsealable
 * with this secret). Never throws for a failed check.
 */
export async function runCoordinatorPreflight(
  env: NodeJS.ProcessEnv = process.env,
  o: { timeoutMs?: number; progress?: (line: string) => void } = {},
): Promise<CheckResult[]> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const progress = o.progress ?? (() => undefined);
  const out: CheckResult[] = [];
  const add = (r: CheckResult) => out.push(r);

  progress('checking the configuration');
  let config: CoordinatorConfig;
  try {
    config = parseConfig(env, configBaseDir(env));
    add(
      ok(
        'config',
        `data dir ${config.dataDir}, ${config.database.kind === 'postgres' ? `Postgres ${redactUrl(config.database.url)}` : 'embedded database'}, ${config.blobStore.driver} blob store, listening on ${config.host}:${config.port}`,
      ),
    );
  } catch (e) {
    add(
      fail(
        'config',
        message(e),
        'fix the environment variables named above (docs/coordinator.md, "Configuration")',
      ),
    );
    return out;
  }

  progress('checking the data directory');
  add(checkDataDir(config.dataDir));
  add(checkDisk(config.dataDir));
  const secret = checkSecret(env, config.dataDir, add);

  progress('opening the database');
  let db: Database | null = null;
  try {
    db = await withTimeout(openDatabase(config.database), timeoutMs, 'opening the database');
    await withTimeout(db.ping(), timeoutMs, 'SELECT 1');
    add(ok('database', `${db.describe()} answers`));
  } catch (e) {
    if (e instanceof DataDirLockedError) {
      add(
        warn(
          'database',
          `the embedded database is open in the running coordinator (pid ${e.pid}); it cannot be checked from here`,
          'that coordinator checks it itself: GET /readyz; stop it to run every check',
        ),
      );
    } else
      add(
        fail(
          'database',
          `cannot open ${config.database.kind === 'postgres' ? redactUrl(config.database.url) : config.database.dataDir}: ${message(e)}`,
          config.database.kind === 'postgres'
            ? 'check DATABASE_URL (host, port, user, password, database), that Postgres runs and that pg_hba.conf admits this host'
            : `check that ${config.database.dataDir} is readable and writable by the coordinator's user`,
        ),
      );
    for (const n of ['migrations', 'blob-store', 'signing-key']) add(skip(n, 'not checked: no database'));
    return out;
  }
  try {
    progress('comparing migrations');
    const schema = await checkMigrations(db, add);
    progress('checking the blob store');
    await checkBlobStore(config, db, timeoutMs, add);
    progress('checking the bundle-signing key');
    if (schema) await checkSigningKey(db, secret, add);
    else add(skip('signing-key', 'not checked: the database has no schema yet'));
  } finally {
    await db.close();
  }
  return out;
}

function checkDataDir(dir: string): CheckResult {
  if (!fs.existsSync(dir))
    return warn(
      'data-dir',
      `${dir} does not exist yet`,
      `it is created at first start; or create it owned by the coordinator's user, mode 0700`,
    );
  const probe = path.join(dir, `.preflight-${process.pid}`);
  try {
    fs.writeFileSync(probe, 'preflight\n', { flag: 'wx', mode: 0o600 });
    fs.rmSync(probe);
  } catch (e) {
    return fail(
      'data-dir',
      `cannot write in ${dir}: ${message(e)}`,
      `chown -R <coordinator user> ${dir} (and ReadWritePaths= in its systemd unit)`,
    );
  }
  // Fails rather than warns: another local user could read the secret and the database, or overwrite them.
  const mode = fs.statSync(dir).mode & 0o777;
  if (mode & 0o077)
    return fail(
      'data-dir',
      `${dir} is open to other users (mode ${mode.toString(8)}); it holds the secret and the database`,
      `chmod -R go= ${dir} (owner only), and UMask=0077 in the coordinator's systemd unit`,
    );
  const open = openToOthers(dir);
  if (open.count > 0)
    return fail(
      'data-dir',
      `${open.count} file(s) or folder(s) in ${dir} are open to other users: ${describeOpen(open.examples, open.count)}`,
      `chmod -R go= ${dir} (owner only), and UMask=0077 in the coordinator's systemd unit`,
    );
  return ok('data-dir', `${dir} is writable and private (mode ${mode.toString(8)})`);
}

function describeOpen(examples: { path: string; mode: number }[], count: number): string {
  const shown = examples.map((e) => `${e.path} (mode ${e.mode.toString(8)})`).join(', ');
  return count > examples.length ? `${shown}, …` : shown;
}

function checkDisk(dir: string): CheckResult {
  let at = dir;
  while (!fs.existsSync(at) && path.dirname(at) !== at) at = path.dirname(at);
  const s = fs.statfsSync(at);
  const free = s.bavail * s.bsize;
  const detail = `${(free / GiB).toFixed(1)} GiB free on the file system of ${at}`;
  if (free < 1 * GiB)
    return fail('disk', detail, 'free space: adapters, bundles and the database grow with the federation');
  if (free < 5 * GiB) return warn('disk', detail, 'at least 5 GiB is advised');
  return ok('disk', detail);
}

/** The root secret as serve would load it, read-only: a missing file is a warning (serve creates it). */
function checkSecret(
  env: NodeJS.ProcessEnv,
  dataDir: string,
  add: (r: CheckResult) => void,
): Uint8Array | null {
  if (env['COORDINATOR_SECRET'] !== undefined && env['COORDINATOR_SECRET'].trim() !== '') {
    try {
      const { secret } = loadOrCreateSecret(env['COORDINATOR_SECRET'], dataDir);
      add(ok('secret', `COORDINATOR_SECRET (${secret.length} bytes)`));
      return secret;
    } catch (e) {
      add(
        fail(
          'secret',
          message(e),
          'set COORDINATOR_SECRET to the value every replica shares (openssl rand -hex 32 for a new federation)',
        ),
      );
      return null;
    }
  }
  const file = path.join(dataDir, SECRET_FILE);
  if (!fs.existsSync(file)) {
    add(
      warn(
        'secret',
        `${file} does not exist yet`,
        'it is created (mode 0600) at first start; replicas need COORDINATOR_SECRET instead',
      ),
    );
    return null;
  }
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (e) {
    add(
      fail(
        'secret',
        `cannot read ${file}: ${message(e)}`,
        `it must be owned by the coordinator's user, mode 0600`,
      ),
    );
    return null;
  }
  if (!/^[0-9a-f]{64,}$/.test(text)) {
    add(
      fail(
        'secret',
        `${file} is not a hex secret of at least 32 bytes`,
        'restore it from backup (a new one cannot unseal the signing keys)',
      ),
    );
    return null;
  }
  const mode = fs.statSync(file).mode & 0o777;
  if (mode & 0o077) {
    add(fail('secret', `${file} can be read by other users (mode ${mode.toString(8)})`, `chmod 600 ${file}`));
    return Buffer.from(text, 'hex');
  }
  add(ok('secret', `${file} (mode 600)`));
  return Buffer.from(text, 'hex');
}

/** Whether the schema exists (at least one migration applied). */
async function checkMigrations(db: Database, add: (r: CheckResult) => void): Promise<boolean> {
  const local = readMigrations();
  const table = await db.sql.query<{ exists: boolean }>(
    `SELECT to_regclass('"_prisma_migrations"') IS NOT NULL AS exists`,
  );
  if (!table[0]?.exists) {
    add(
      warn(
        'migrations',
        `the database is empty: ${local.length} migration(s) to apply`,
        'coordinator migrate (serve also applies them at start)',
      ),
    );
    return false;
  }
  const rows = await db.sql.query<{
    migration_name: string;
    checksum: string;
    finished_at: Date | null;
    rolled_back_at: Date | null;
  }>('SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations"');
  const failed = rows.filter((r) => r.finished_at === null && r.rolled_back_at === null);
  if (failed.length) {
    add(
      fail(
        'migrations',
        `failed migration(s) in the database: ${failed.map((r) => r.migration_name).join(', ')}`,
        'resolve them with prisma migrate resolve (docs/coordinator.md) before starting',
      ),
    );
    return true;
  }
  const applied = new Set(rows.filter((r) => r.rolled_back_at === null).map((r) => r.migration_name));
  const names = new Set(local.map((m) => m.name));
  const unknown = [...applied].filter((n) => !names.has(n));
  const pending = local.filter((m) => !applied.has(m.name)).map((m) => m.name);
  if (unknown.length)
    add(
      fail(
        'migrations',
        `the database has migration(s) this release does not know: ${unknown.join(', ')} (it was used by a newer coordinator)`,
        'run the coordinator release that migrated it; a downgrade needs the database backup taken before the upgrade',
      ),
    );
  else if (pending.length)
    add(
      warn(
        'migrations',
        `${pending.length} of ${local.length} migration(s) pending: ${pending.join(', ')}`,
        'coordinator migrate (serve also applies them at start)',
      ),
    );
  else add(ok('migrations', `all ${local.length} migration(s) applied`));
  return applied.size > 0;
}

async function checkBlobStore(
  config: CoordinatorConfig,
  db: Database,
  timeoutMs: number,
  add: (r: CheckResult) => void,
): Promise<void> {
  const where = config.blobStore.driver === 'fs' ? config.blobStore.dir : 'the database';
  let store: BlobStore;
  try {
    store = await openBlobStore(config.blobStore, db);
    await withTimeout(store.ping(), timeoutMs, 'blob store');
  } catch (e) {
    add(
      fail(
        'blob-store',
        `${config.blobStore.driver} blob store in ${where} cannot be written: ${message(e)}`,
        config.blobStore.driver === 'fs'
          ? `make ${where} writable by the coordinator's user (ReadWritePaths= in its unit)`
          : 'check the database role may write the blob table (migrations applied?)',
      ),
    );
    return;
  }
  // a blob folder outside the data directory is not covered by the data-dir check
  if (config.blobStore.driver === 'fs' && !isInside(config.blobStore.dir, config.dataDir)) {
    const open = openToOthers(config.blobStore.dir);
    if (open.count > 0) {
      add(
        fail(
          'blob-store',
          `${open.count} file(s) or folder(s) in ${where} are open to other users: ${describeOpen(open.examples, open.count)}`,
          `chmod -R go= ${where} (owner only)`,
        ),
      );
      return;
    }
  }
  add(ok('blob-store', `${config.blobStore.driver} blob store in ${where} is readable and writable`));
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

async function checkSigningKey(
  db: Database,
  secret: Uint8Array | null,
  add: (r: CheckResult) => void,
): Promise<void> {
  let key: { kid: string; privateJwkSealed: string | null } | null;
  try {
    key = await db.prisma.signingKey.findFirst({
      where: { status: 'active' },
      orderBy: { activatedAt: 'desc' },
    });
  } catch (e) {
    add(skip('signing-key', `not checked: ${message(e).split('\n')[0]}`));
    return;
  }
  if (!key) {
    add(warn('signing-key', 'no active bundle-signing key yet', 'serve creates one at first start'));
    return;
  }
  if (!key.privateJwkSealed) {
    add(
      fail(
        'signing-key',
        `active key ${key.kid} has no private half in the database`,
        'rotate the signing key (admin UI, Bundles), or restore the database',
      ),
    );
    return;
  }
  if (!secret) {
    add(skip('signing-key', `active key ${key.kid}: not unsealed (no usable secret)`));
    return;
  }
  try {
    unsealPrivateJwk(key.privateJwkSealed, deriveKey(secret, 'signing-key-seal'), key.kid);
    add(ok('signing-key', `active key ${key.kid} unseals with this secret`));
  } catch (e) {
    add(
      fail(
        'signing-key',
        `active key ${key.kid} does not unseal with this secret: ${message(e)}`,
        'use the secret the key was sealed with (COORDINATOR_SECRET or secret.key from the same installation / backup)',
      ),
    );
  }
}
