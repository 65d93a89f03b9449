import { EXIT, UserError } from '../cli/errors';
import { PacsAuthError, resolvePacsAuth } from '../pacs/pacs-auth';
import type { OptionValues } from './command';

/** How every command that talks to the hospital PACS over DICOMweb is told where it is and how to log in. */
export const PACS_OPTIONS = {
  'pacs-auth': { type: 'string' },
  'pacs-auth-file': { type: 'string' },
  'pacs-auth-env': { type: 'string' },
  'pacs-timeout': { type: 'string', default: '60' },
} as const;

export const PACS_HELP = `  --pacs-auth <header>      PACS Authorization header ("Bearer <token>" or "Basic <base64>")
  --pacs-auth-file <file>   PACS basic credentials, one line user:password
  --pacs-auth-env <VAR>     PACS basic credentials user:password in the environment variable VAR
  --pacs-timeout <s>        seconds per PACS request (default 60)
The PACS is reached through the hospital proxy and CA like the coordinator (HTTPS_PROXY, NODE_EXTRA_CA_CERTS);
every request is in the egress log with UIDs as pseudonyms. Nothing from the PACS goes to the coordinator.`;

export interface PacsFlags {
  auth?: string;
  timeoutMs: number;
}

/** The PACS URL checked, and the credentials and timeout the flags name; bad values are usage errors. */
export function pacsFlags(v: OptionValues, url: string, flag: string): PacsFlags {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(
      `${flag} wants the PACS's DICOMweb URL (http(s)://host/dicom-web), got "${url}"`,
      EXIT.usage,
    );
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new UserError(`${flag} must be an http(s) URL, got ${u.protocol}`, EXIT.usage);
  if (u.username || u.password)
    throw new UserError(
      `${flag}: put PACS credentials in --pacs-auth-file or --pacs-auth-env, not in the URL`,
      EXIT.usage,
    );
  const seconds = Number(v.string('pacs-timeout'));
  if (!(seconds > 0 && seconds <= 3600))
    throw new UserError('--pacs-timeout must be a number of seconds in (0, 3600]', EXIT.usage);
  try {
    const auth = resolvePacsAuth({
      header: v.string('pacs-auth'),
      basicFile: v.string('pacs-auth-file'),
      basicEnv: v.string('pacs-auth-env'),
    });
    return { ...(auth ? { auth } : {}), timeoutMs: seconds * 1000 };
  } catch (e) {
    if (e instanceof PacsAuthError) throw new UserError(e.message, EXIT.usage);
    throw e;
  }
}
