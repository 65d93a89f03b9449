import 'reflect-metadata';
import type { AdminRole } from '@prisma/client';
import { EXIT_CODES, preflightReport } from '@casam/protocol';
import { AdminRepository } from './admins/admin.repository';
import { AdminsService, MIN_PASSWORD_LENGTH } from './admins/admins.service';
import { PasswordHasher } from './admins/password-hasher';
import { AuditEventRepository } from './audit/audit-event.repository';
import { AuditService } from './audit/audit.service';
import { Clock } from './common/clock';
import { DomainError } from './common/domain-error';
import { ConfigError, type CoordinatorConfig, loadConfig } from './config/coordinator-config';
import { DataDirLockedError } from './database/data-dir-lock';
import { MigrationError, migrateDeploy } from './database/migrator';
import { openDatabase } from './database/open-database';
import { main as serve } from './main';
import { runCoordinatorPreflight } from './cli/preflight';

/**
 * Exit codes: the one table of libs/protocol, shared with the site agent and the scripts (0 done, 1 internal
 * error, 2 usage or configuration, 3 input refused, 4 database, 6 a preflight check failed).
 */
export const EXIT = EXIT_CODES;

const USAGE = `usage: coordinator <command> [options]

commands:
  serve                                  run the coordinator (the default)
  migrate                                apply pending database migrations and exit
  preflight [--json]                     check configuration, data directory, secret, database and
                                         migrations, blob store and signing key; exit 6 if one fails
  create-admin --email <e> --role <r>    create an admin account; role is admin or viewer.
                                         The password is read from stdin when it is not a terminal
                                         (one line), otherwise prompted for twice without echo.

configuration comes from the environment (DATABASE_URL, COORDINATOR_DATA_DIR, ...): see docs/coordinator.md`;

class UsageError extends Error {}
/** A database problem the CLI explains itself (exit 4). */
class CliDatabaseError extends Error {}

/** Entry point of `bin/coordinator.js`. Resolves to the exit code (never, while `serve` runs). */
export async function main(argv: string[]): Promise<number> {
  const [command = 'serve', ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        if (rest.length > 0) throw new UsageError(`serve takes no arguments (got ${rest.join(' ')})`);
        return await serve();
      case 'migrate':
        if (rest.length > 0) throw new UsageError(`migrate takes no arguments (got ${rest.join(' ')})`);
        return await migrate(loadConfig());
      case 'preflight':
        if (rest.some((a) => a !== '--json'))
          throw new UsageError(`preflight takes only --json (got ${rest.join(' ')})`);
        return await preflight(rest.includes('--json'));
      case 'create-admin':
        return await createAdmin(loadConfig(), parseFlags(rest, ['email', 'role']));
      case '--help':
      case '-h':
      case 'help':
        console.log(USAGE);
        return EXIT.ok;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (e) {
    return report(e);
  }
}

async function preflight(json: boolean): Promise<number> {
  const checks = await runCoordinatorPreflight(process.env, {
    progress: json ? undefined : (l) => console.error(`… ${l}`),
  });
  const { text, failed } = preflightReport(checks, json);
  console.log(text);
  return failed.length ? EXIT.preflight : EXIT.ok;
}

async function migrate(config: CoordinatorConfig): Promise<number> {
  const db = await openDatabase(config.database);
  try {
    const r = await migrateDeploy(db.sql);
    for (const w of r.warnings) console.warn(`warning: ${w}`);
    console.log(
      `${db.describe()}: applied ${r.applied.length} migration(s) in ${r.durationMs} ms${r.applied.map((n) => `\n  ${n}`).join('')}`,
    );
    return EXIT.ok;
  } finally {
    await db.close();
  }
}

async function createAdmin(config: CoordinatorConfig, flags: Record<string, string>): Promise<number> {
  const email = flags.email;
  const role = flags.role;
  if (!email) throw new UsageError('create-admin needs --email');
  if (role !== 'admin' && role !== 'viewer')
    throw new UsageError('create-admin needs --role admin or --role viewer');
  const password = await readPassword(email);
  const db = await openDatabase(config.database).catch((e: unknown) => {
    // The usual case: the first admin made after the service was started. Say how to get there.
    if (e instanceof DataDirLockedError)
      throw new CliDatabaseError(
        `the embedded database is in use by the running coordinator (process ${e.pid}): stop it, create the ` +
          'admin, start it again (systemctl stop casam-coordinator; coordinator create-admin …; systemctl start ' +
          'casam-coordinator); with Postgres (DATABASE_URL) this works while it runs; further admins: ' +
          'POST /api/v1/admins as an admin',
      );
    throw e;
  });
  try {
    await migrateDeploy(db.sql);
    const admins = new AdminsService(
      new AdminRepository(db),
      new PasswordHasher(),
      new AuditService(new AuditEventRepository(db)),
      new Clock(),
    );
    const admin = await admins.createAdmin({ email, role: role as AdminRole, password, via: 'cli' });
    console.log(`created ${admin.role} ${admin.email} (id ${admin.id})`);
    return EXIT.ok;
  } finally {
    await db.close();
  }
}

function parseFlags(args: string[], allowed: string[]): Record<string, string> {
  const flags: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(args[i]);
    if (!m || !allowed.includes(m[1])) throw new UsageError(`unexpected argument "${args[i]}"`);
    const value = m[2] ?? args[++i];
    if (value === undefined || value.startsWith('--')) throw new UsageError(`--${m[1]} needs a value`);
    flags[m[1]] = value;
  }
  return flags;
}

/** From a pipe: the first line of stdin. From a terminal: typed twice, not echoed. Never a default. */
async function readPassword(email: string): Promise<string> {
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
    if (text.includes('\n')) throw new UsageError('expected the password as one line on stdin');
    if (text.length === 0) throw new UsageError('no password on stdin');
    return text;
  }
  const first = await promptHidden(`password for ${email} (at least ${MIN_PASSWORD_LENGTH} characters): `);
  const second = await promptHidden('repeat it: ');
  if (first !== second) throw new UsageError('the two passwords differ');
  return first;
}

function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stdout.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    let typed = '';
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(() => resolve(typed));
        if (ch === '\u0003') return done(() => reject(new UsageError('cancelled')));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    const done = (settle: () => void) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stdout.write('\n');
      settle();
    };
    stdin.on('data', onData);
  });
}

function report(e: unknown): number {
  if (e instanceof UsageError) {
    console.error(`coordinator: ${e.message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  if (e instanceof ConfigError) {
    console.error(`coordinator: ${e.message}`);
    return EXIT.usage;
  }
  if (e instanceof DomainError && e.status < 500) {
    console.error(`coordinator: ${e.message}`);
    return EXIT.input;
  }
  if (e instanceof DataDirLockedError || e instanceof MigrationError || e instanceof CliDatabaseError) {
    console.error(`coordinator: ${e.message}`);
    return EXIT.database;
  }
  // The machine's set-up, not a bug: e.g. run as another user than the data directory's owner.
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    const err = e as NodeJS.ErrnoException;
    console.error(
      `coordinator: cannot ${err.syscall ?? 'access'}${err.path ? ` ${err.path}` : ''}: ` +
        `${code === 'EROFS' ? 'the file system is read-only' : 'permission denied'}; run it as the user that owns ` +
        'the data directory (e.g. runuser -u casam-coordinator -- coordinator …)',
    );
    return EXIT.usage;
  }
  console.error('coordinator: internal error (this is a bug):', e);
  return EXIT.internal;
}
