import { execFileSync, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './free-port';

/** A throwaway Postgres cluster for tests: its own directory, a free port, trust auth, gone after stop(). */
export interface PostgresCluster {
  readonly port: number;
  readonly dir: string;
  /** Connection URL for a database of this cluster (superuser `postgres`). */
  url(database?: string): string;
  stop(): void;
}

/** True when `initdb` and `pg_ctl` are on PATH. */
export function postgresBinariesAvailable(): boolean {
  return ['initdb', 'pg_ctl'].every((bin) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0);
}

/**
 * Starts a Postgres cluster from the machine's binaries (`initdb` + `pg_ctl`) in a temporary directory.
 * Postgres refuses to run as root; when the tests run as root the cluster runs as the `postgres` (or
 * `nobody`) account instead. Durability is switched off: this data lives for one test run.
 */
export async function startPostgresCluster(): Promise<PostgresCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casam-pg-'));
  const dataDir = path.join(dir, 'data');
  const log = path.join(dir, 'server.log');
  const owner = process.getuid?.() === 0 ? unprivilegedAccount() : undefined;
  if (owner) fs.chownSync(dir, owner.uid, owner.gid);
  const run = (bin: string, args: string[]) => {
    const opts: SpawnSyncOptions = { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' }, ...owner };
    const r = spawnSync(bin, args, opts);
    if (r.status !== 0)
      throw new Error(`${bin} ${args.join(' ')} failed (${r.status ?? r.signal}): ${String(r.stderr)}`);
  };

  run('initdb', [
    '-D',
    dataDir,
    '-A',
    'trust',
    '-U',
    'postgres',
    '-E',
    'UTF8',
    '--no-sync',
    '--no-instructions',
  ]);
  let port = 0;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    const settings = [
      `-p ${port}`,
      `-k ${dir}`,
      "-c listen_addresses='127.0.0.1'",
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c max_connections=300',
    ].join(' ');
    try {
      run('pg_ctl', ['-D', dataDir, '-l', log, '-w', '-t', '60', '-o', settings, 'start']);
      break;
    } catch (e) {
      if (attempt >= 2) {
        fs.rmSync(dir, { recursive: true, force: true });
        throw e; // the port was taken between probe and start three times, or Postgres cannot start
      }
    }
  }

  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    spawnSync('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], { stdio: 'ignore', ...owner });
    fs.rmSync(dir, { recursive: true, force: true });
  };
  // A crashed test run must not leave a server behind.
  process.once('exit', stop);
  return { port, dir, url: (db = 'postgres') => `postgresql://postgres@127.0.0.1:${port}/${db}`, stop };
}

/** A new empty database `name` (default a random `casam_…` name) on the cluster at `adminUrl`; its URL. */
export async function createPostgresDatabase(adminUrl: string, name?: string): Promise<string> {
  const database = name ?? `casam_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${database}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

function unprivilegedAccount(): { uid: number; gid: number } {
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      return { uid, gid };
    } catch {
      // try the next account
    }
  }
  throw new Error('running as root and no unprivileged account (postgres, nobody) to run Postgres as');
}
