/**
 * Exit codes (documented in the README):
 *   0 success · 1 internal error (a bug: stack trace printed) · 2 usage error · 3 bad input data
 *   4 model or checkpoint problem · 5 backend/engine unavailable · 6 a preflight check failed
 */
export const EXIT = { ok: 0, internal: 1, usage: 2, input: 3, model: 4, backend: 5, preflight: 6 } as const;

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
