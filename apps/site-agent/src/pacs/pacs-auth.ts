import { readFileSync } from 'node:fs';

/**
 * The Authorization header for the PACS, from where an operator keeps such things. A header value may be
 * given as is (`Bearer …` or `Basic …`, e.g. from `--pacs-auth`); basic credentials `user:password` come from
 * a file or from an environment variable named on the command line, so the password is never a flag value
 * that shows in `ps`, shell history or a log. Nothing here is ever written to the egress log.
 */
export interface PacsAuthSource {
  /** A whole header value: `Bearer <token>` or `Basic <base64>`. */
  header?: string;
  /** A file holding `user:password` (one line). */
  basicFile?: string;
  /** The name of an environment variable holding `user:password`. */
  basicEnv?: string;
}

export class PacsAuthError extends Error {
  override name = 'PacsAuthError';
}

/** The Authorization header value, or undefined when no source is given. */
export function resolvePacsAuth(
  src: PacsAuthSource,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const given = [src.header, src.basicFile, src.basicEnv].filter((s) => s !== undefined);
  if (given.length > 1) throw new PacsAuthError('give one PACS credential: a header, a file or a variable');
  if (src.header !== undefined) {
    const header = src.header.trim();
    if (!/^(Bearer|Basic) \S+$/i.test(header))
      throw new PacsAuthError('the PACS auth header must be "Bearer <token>" or "Basic <base64>"');
    return header;
  }
  let pair: string | undefined;
  if (src.basicFile !== undefined) {
    try {
      pair = readFileSync(src.basicFile, 'utf8').split(/\r?\n/)[0];
    } catch (e) {
      throw new PacsAuthError(
        `cannot read the PACS credentials file ${src.basicFile}: ${(e as Error).message}`,
      );
    }
  } else if (src.basicEnv !== undefined) {
    pair = env[src.basicEnv];
    if (pair === undefined)
      throw new PacsAuthError(`the variable ${src.basicEnv} (PACS credentials) is not set`);
  } else return undefined;
  if (!pair.includes(':') || pair.startsWith(':'))
    throw new PacsAuthError('PACS basic credentials must be one line "user:password"');
  return `Basic ${Buffer.from(pair).toString('base64')}`;
}
