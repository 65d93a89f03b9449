import path from 'node:path';
import { BASE_MODEL_FINGERPRINT_PATTERN } from '@casam/protocol';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'log' | 'debug' | 'verbose';
export type LogFormat = 'json' | 'text';

export type DatabaseConfig =
  /** A real Postgres server (production, CI, several replicas). */
  | { kind: 'postgres'; url: string; poolMax: number }
  /** The embedded default: PGlite in a directory, no server. One process at a time. */
  | { kind: 'pglite'; dataDir: string };

export type BlobStoreConfig = { driver: 'fs'; dir: string } | { driver: 'postgres' };

/**
 * How socket.io events reach sockets on other replicas: `postgres` (the socket.io Postgres adapter: NOTIFY on
 * the coordinator's database) or `local` (this process only: one coordinator).
 */
export type RealtimeAdapterKind = 'postgres' | 'local';

/** Identity and access knobs (see docs/coordinator.md, "Identity and access"). */
export interface AuthConfig {
  /** Sustained requests per minute per client address (and per login email) on each auth endpoint. */
  ratePerMinute: number;
  /** Requests a client may make at once before the sustained rate applies (token bucket size). */
  rateBurst: number;
  /** How long a rotated site key keeps working after the rotation. */
  keyRotationGraceSeconds: number;
}

/**
 * What one socket may send (see realtime/socket-event-budget.ts): `burst` events at once, `perMinute` on
 * average; a socket that keeps sending past it is disconnected.
 */
export interface SocketEventConfig {
  perMinute: number;
  burst: number;
}

/** Everything the coordinator reads from its environment, validated and typed. */
export interface CoordinatorConfig {
  host: string;
  port: number;
  /** Root of the coordinator's local state (embedded database, file-system blobs). */
  dataDir: string;
  database: DatabaseConfig;
  blobStore: BlobStoreConfig;
  log: { level: LogLevel; format: LogFormat };
  auth: AuthConfig;
  /** Defaults to `postgres` on a Postgres database (replicas), `local` on the embedded one. */
  realtime: { adapter: RealtimeAdapterKind };
  /** Per-socket event budget. */
  socketEvents: SocketEventConfig;
  /**
   * On SIGTERM/SIGINT, how long `/readyz` answers 503 `draining` while the process keeps serving, so a load
   * balancer takes the replica out of rotation before its sockets close (0: close at once).
   */
  shutdownDrainSeconds: number;
  /** Bearer token Prometheus must send to `GET /metrics`; undefined leaves the endpoint open. */
  metricsToken?: string;
  /**
   * The federation's one base model (`sha256:<64 hex>`): tasks for any other are refused at proposal. Unset:
   * the first approved task's fingerprint sets it, and approving a task with another is refused.
   */
  baseModelFingerprint?: string;
}

/** The configuration is wrong; `problems` names every bad variable, not just the first. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid coordinator configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_DATA_DIR = path.join('.casam', 'coordinator');
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/**
 * Reads and validates the environment. Pure: same env in, same config out. Relative paths resolve against
 * `baseDir` (see {@link configBaseDir}).
 */
export function parseConfig(env: NodeJS.ProcessEnv, baseDir: string): CoordinatorConfig {
  const problems: string[] = [];
  const str = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = str(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max) {
      problems.push(`${name}: must be an integer from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return n;
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const raw = str(name);
    if (raw === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(raw)) {
      problems.push(`${name}: must be one of ${allowed.join(', ')} (got "${raw}")`);
      return fallback;
    }
    return raw as T;
  };

  const port = int('COORDINATOR_PORT', DEFAULT_PORT, 0, 65535);
  const host = str('COORDINATOR_HOST') ?? DEFAULT_HOST;
  const dataDir = path.resolve(baseDir, str('COORDINATOR_DATA_DIR') ?? DEFAULT_DATA_DIR);

  let database: DatabaseConfig = { kind: 'pglite', dataDir: path.join(dataDir, 'db') };
  const url = str('DATABASE_URL');
  const poolMax = int('COORDINATOR_DB_POOL_MAX', 10, 1, 1000);
  if (url !== undefined) {
    if (!/^postgres(ql)?:\/\/.+/.test(url))
      problems.push(`DATABASE_URL: must be a postgres:// or postgresql:// URL (got "${redactUrl(url)}")`);
    else database = { kind: 'postgres', url, poolMax };
  }

  const driver = oneOf('COORDINATOR_BLOB_STORE', ['fs', 'postgres'] as const, 'fs');
  const blobStore: BlobStoreConfig =
    driver === 'fs'
      ? { driver, dir: path.resolve(baseDir, str('COORDINATOR_BLOB_DIR') ?? path.join(dataDir, 'blobs')) }
      : { driver };

  const realtimeAdapter = oneOf(
    'COORDINATOR_REALTIME_ADAPTER',
    ['postgres', 'local'] as const,
    database.kind === 'postgres' ? 'postgres' : 'local',
  );
  if (realtimeAdapter === 'postgres' && database.kind !== 'postgres')
    problems.push(
      'COORDINATOR_REALTIME_ADAPTER: "postgres" needs DATABASE_URL (the embedded database serves one process only)',
    );
  const realtime = { adapter: realtimeAdapter };
  const shutdownDrainSeconds = int('COORDINATOR_SHUTDOWN_DRAIN_SECONDS', 0, 0, 300);
  // A site agent sends training progress at most once a second (and at each stage change) and its status on
  // connect and after each pull; admins' browsers send nothing. Twice the steady need, a generous burst.
  const socketEvents: SocketEventConfig = {
    perMinute: int('COORDINATOR_SOCKET_EVENTS_PER_MINUTE', 120, 1, 1_000_000),
    burst: int('COORDINATOR_SOCKET_EVENT_BURST', 30, 1, 1_000_000),
  };

  const log = {
    level: oneOf('COORDINATOR_LOG_LEVEL', LOG_LEVELS, 'log'),
    format: oneOf('COORDINATOR_LOG_FORMAT', ['json', 'text'] as const, 'json'),
  };

  const metricsToken = str('COORDINATOR_METRICS_TOKEN');
  if (metricsToken !== undefined && metricsToken.length < 16)
    problems.push('COORDINATOR_METRICS_TOKEN: use at least 16 characters');

  const auth: AuthConfig = {
    ratePerMinute: int('COORDINATOR_AUTH_RATE_PER_MINUTE', 20, 1, 1_000_000),
    rateBurst: int('COORDINATOR_AUTH_RATE_BURST', 10, 1, 1_000_000),
    keyRotationGraceSeconds: int('COORDINATOR_KEY_ROTATION_GRACE_SECONDS', 3600, 0, 30 * 24 * 3600),
  };

  const baseModelFingerprint = str('COORDINATOR_BASE_MODEL_FINGERPRINT');
  if (baseModelFingerprint !== undefined && !BASE_MODEL_FINGERPRINT_PATTERN.test(baseModelFingerprint))
    problems.push(
      `COORDINATOR_BASE_MODEL_FINGERPRINT: must be "sha256:" and 64 lower-case hex digits (got "${baseModelFingerprint.slice(0, 80)}")`,
    );

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    host,
    port,
    dataDir,
    database,
    blobStore,
    log,
    auth,
    realtime,
    socketEvents,
    shutdownDrainSeconds,
    metricsToken,
    baseModelFingerprint,
  };
}

/**
 * Relative paths are taken from where the operator ran the command: npm runs workspace scripts inside the
 * workspace folder but records the caller's folder in INIT_CWD.
 */
export function configBaseDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.INIT_CWD ?? process.cwd();
}

let cached: CoordinatorConfig | undefined;

/** The process's configuration: read once, validated, then cached. */
export function loadConfig(): CoordinatorConfig {
  cached ??= parseConfig(process.env, configBaseDir());
  return cached;
}

/** Hides the password of a connection URL for logs and error messages. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+):[^@]*@/, '$1:***@');
}
