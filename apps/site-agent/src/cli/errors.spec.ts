import { describe, expect, it } from 'vitest';
import { EXIT, permissionProblem } from './errors';

/** An error as node:fs throws it. */
const fsError = (code: string, syscall: string, path: string) =>
  Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path });

describe('permissionProblem', () => {
  it('turns a file-system refusal into one line with the path, what to do and exit 2', () => {
    const e = permissionProblem(fsError('EACCES', 'mkdir', '/var/lib/casam-agent'))!;
    expect(e.exitCode).toBe(EXIT.usage);
    expect(e.message).toMatch(
      /^cannot mkdir \/var\/lib\/casam-agent: permission denied; run site-agent as the user/,
    );
    expect(e.message).not.toContain('\n');
    expect(permissionProblem(fsError('EROFS', 'open', '/x'))!.message).toMatch(/read-only/);
  });

  it('leaves every other error alone (a bug stays a bug)', () => {
    expect(permissionProblem(fsError('ENOENT', 'open', '/x'))).toBeNull();
    expect(permissionProblem(new TypeError('x is undefined'))).toBeNull();
    expect(permissionProblem(undefined)).toBeNull();
  });
});
