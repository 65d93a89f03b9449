import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, redactUrl } from './coordinator-config';

const base = '/srv/casam';

describe('parseConfig', () => {
  it('defaults to the embedded database and file-system blobs under ./.casam/coordinator', () => {
    const c = parseConfig({}, base);
    expect(c).toEqual({
      host: '127.0.0.1',
      port: 8080,
      dataDir: path.join(base, '.casam/coordinator'),
      database: { kind: 'pglite', dataDir: path.join(base, '.casam/coordinator/db') },
      blobStore: { driver: 'fs', dir: path.join(base, '.casam/coordinator/blobs') },
      log: { level: 'log', format: 'json' },
      auth: { ratePerMinute: 20, rateBurst: 10, keyRotationGraceSeconds: 3600 },
      realtime: { adapter: 'local' },
      socketEvents: { perMinute: 120, burst: 30 },
      shutdownDrainSeconds: 0,
    });
  });

  it('takes the per-socket event budget from COORDINATOR_SOCKET_EVENTS_PER_MINUTE and _EVENT_BURST', () => {
    expect(
      parseConfig({ COORDINATOR_SOCKET_EVENTS_PER_MINUTE: '600', COORDINATOR_SOCKET_EVENT_BURST: '5' }, base)
        .socketEvents,
    ).toEqual({ perMinute: 600, burst: 5 });
    expect(() => parseConfig({ COORDINATOR_SOCKET_EVENT_BURST: '0' }, base)).toThrow(
      /COORDINATOR_SOCKET_EVENT_BURST: must be an integer from 1 to 1000000 \(got "0"\)/,
    );
  });

  it('uses Postgres when DATABASE_URL is set', () => {
    const c = parseConfig(
      {
        DATABASE_URL: 'postgres://u:p@db:5432/casam',
        COORDINATOR_DB_POOL_MAX: '4',
        COORDINATOR_BLOB_STORE: 'postgres',
        COORDINATOR_PORT: '0',
        COORDINATOR_HOST: '0.0.0.0',
      },
      base,
    );
    expect(c.database).toEqual({ kind: 'postgres', url: 'postgres://u:p@db:5432/casam', poolMax: 4 });
    expect(c.blobStore).toEqual({ driver: 'postgres' });
    expect(c.port).toBe(0);
    expect(c.host).toBe('0.0.0.0');
    // replicas on one Postgres hear each other's socket.io events unless told otherwise
    expect(c.realtime).toEqual({ adapter: 'postgres' });
  });

  it('takes the realtime adapter from COORDINATOR_REALTIME_ADAPTER; postgres needs DATABASE_URL', () => {
    const pg = { DATABASE_URL: 'postgres://u:p@db:5432/casam' };
    expect(parseConfig({ ...pg, COORDINATOR_REALTIME_ADAPTER: 'local' }, base).realtime).toEqual({
      adapter: 'local',
    });
    expect(() => parseConfig({ COORDINATOR_REALTIME_ADAPTER: 'postgres' }, base)).toThrow(
      /COORDINATOR_REALTIME_ADAPTER: "postgres" needs DATABASE_URL/,
    );
    expect(() => parseConfig({ ...pg, COORDINATOR_REALTIME_ADAPTER: 'redis' }, base)).toThrow(
      /COORDINATOR_REALTIME_ADAPTER: must be one of postgres, local/,
    );
  });

  it('takes the shutdown drain from COORDINATOR_SHUTDOWN_DRAIN_SECONDS (0 to 300)', () => {
    expect(parseConfig({ COORDINATOR_SHUTDOWN_DRAIN_SECONDS: '15' }, base).shutdownDrainSeconds).toBe(15);
    expect(() => parseConfig({ COORDINATOR_SHUTDOWN_DRAIN_SECONDS: '301' }, base)).toThrow(
      /COORDINATOR_SHUTDOWN_DRAIN_SECONDS: must be an integer from 0 to 300/,
    );
  });

  it('lists every bad variable in one error, without leaking a password', () => {
    let err: unknown;
    try {
      parseConfig(
        {
          COORDINATOR_PORT: '80a',
          DATABASE_URL: 'mysql://root:secret@x/db',
          COORDINATOR_BLOB_STORE: 's3',
          COORDINATOR_LOG_LEVEL: 'loud',
        },
        base,
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/COORDINATOR_PORT: must be an integer from 0 to 65535 \(got "80a"\)/);
    expect(problems.join('\n')).toMatch(/DATABASE_URL: must be a postgres/);
    expect(problems.join('\n')).toMatch(/COORDINATOR_BLOB_STORE: must be one of fs, postgres/);
    expect(problems.join('\n')).toMatch(/COORDINATOR_LOG_LEVEL/);
    expect((err as Error).message).not.toContain('secret');
  });

  it('treats blank variables as unset', () => {
    expect(parseConfig({ DATABASE_URL: '  ', COORDINATOR_PORT: '' }, base).database.kind).toBe('pglite');
  });

  it('redacts passwords in URLs', () => {
    expect(redactUrl('postgresql://casam:s3cr3t@db:5432/x')).toBe('postgresql://casam:***@db:5432/x');
    expect(redactUrl('postgresql://db/x')).toBe('postgresql://db/x');
  });
});

describe('parseConfig: identity and access', () => {
  it('reads the auth rate limit and the key-rotation grace period', () => {
    const c = parseConfig(
      {
        COORDINATOR_AUTH_RATE_PER_MINUTE: '120',
        COORDINATOR_AUTH_RATE_BURST: '30',
        COORDINATOR_KEY_ROTATION_GRACE_SECONDS: '0',
      },
      base,
    );
    expect(c.auth).toEqual({ ratePerMinute: 120, rateBurst: 30, keyRotationGraceSeconds: 0 });
  });

  it('refuses a zero rate, a fractional burst and a grace period over 30 days', () => {
    expect(() =>
      parseConfig(
        {
          COORDINATOR_AUTH_RATE_PER_MINUTE: '0',
          COORDINATOR_AUTH_RATE_BURST: '2.5',
          COORDINATOR_KEY_ROTATION_GRACE_SECONDS: String(31 * 24 * 3600),
        },
        base,
      ),
    ).toThrow(
      /COORDINATOR_AUTH_RATE_PER_MINUTE[^\n]*\n[^\n]*COORDINATOR_AUTH_RATE_BURST[^\n]*\n[^\n]*COORDINATOR_KEY_ROTATION_GRACE_SECONDS/,
    );
  });
});

describe('parseConfig: the federation base model', () => {
  it('reads COORDINATOR_BASE_MODEL_FINGERPRINT, unset by default, and refuses a malformed one', () => {
    const fp = 'sha256:' + 'ab'.repeat(32);
    expect(parseConfig({}, base).baseModelFingerprint).toBeUndefined();
    expect(parseConfig({ COORDINATOR_BASE_MODEL_FINGERPRINT: fp }, base).baseModelFingerprint).toBe(fp);
    expect(() => parseConfig({ COORDINATOR_BASE_MODEL_FINGERPRINT: 'sha256:AB' }, base)).toThrow(
      /COORDINATOR_BASE_MODEL_FINGERPRINT: must be "sha256:" and 64 lower-case hex digits/,
    );
  });
});

describe('the configuration table of docs/coordinator.md', () => {
  it('documents every environment variable the coordinator reads', () => {
    const src = path.resolve(__dirname, '..');
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true }))
        if (e.isDirectory()) walk(path.join(dir, e.name));
        else if (e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts') && !dir.includes('testing'))
          files.push(path.join(dir, e.name));
    };
    walk(src);
    const read = new Set<string>();
    const patterns = [
      /\b(?:str|int|oneOf)\(\s*'([A-Z][A-Z0-9_]+)'/g, // parseConfig's readers
      /(?<!['"`])\bprocess\.env\.([A-Z][A-Z0-9_]+)/g, // not inside a string (e.g. a bundler's define key)
      /\benv\[\s*'([A-Z][A-Z0-9_]+)'\s*\]/g,
    ];
    for (const f of files) {
      const text = fs.readFileSync(f, 'utf8');
      for (const re of patterns) for (const m of text.matchAll(re)) read.add(m[1]);
    }
    const docs = fs.readFileSync(path.resolve(src, '../../../docs/coordinator.md'), 'utf8');
    const table = docs.slice(docs.indexOf('## Configuration'), docs.indexOf('## Database'));
    const missing = [...read].filter((v) => !table.includes(`| \`${v}\` |`));
    expect(read.size).toBeGreaterThan(15);
    expect(read).toContain('COORDINATOR_METRICS_TOKEN');
    expect(missing, 'variables read but not in the configuration table').toEqual([]);
  });
});
