import { EXIT_CODES } from '@casam/protocol';

/** Exit codes: the one table of libs/protocol, shared with the coordinator and the scripts (README, docs/). */
export const EXIT = EXIT_CODES;

/** An error caused by what the user gave us: printed as one line, no stack trace. */
export class UserError extends Error {
  override name = 'UserError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
  }
}

/**
 * A file-system refusal (EACCES, EPERM, EROFS) is the machine's set-up, not a bug: one line naming the path and
 * what to do, instead of a stack trace. Typical: a command run as another user than the agent home's owner, or a
 * home whose parent the service user cannot write (create it first). Null for any other error.
 */
export function permissionProblem(e: unknown): UserError | null {
  const err = e as NodeJS.ErrnoException | null;
  if (!err || typeof err !== 'object' || !['EACCES', 'EPERM', 'EROFS'].includes(String(err.code)))
    return null;
  const what = err.code === 'EROFS' ? 'the file system is read-only' : 'permission denied';
  const where = err.path ? ` ${err.path}` : '';
  return new UserError(
    `cannot ${err.syscall ?? 'access'}${where}: ${what}; run site-agent as the user that owns the agent home ` +
      '(e.g. runuser -u casam-agent -- site-agent …), and create a new home for it first ' +
      '(install -d -o casam-agent -g casam-agent -m 0700 /var/lib/casam-agent)',
    EXIT.usage,
  );
}
