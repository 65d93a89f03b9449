import { EXIT, UserError } from '../cli/errors';
import { PacsError } from './pacs-error';

/**
 * A PACS failure as the one-line error a command prints: credentials refused are configuration (usage), a
 * study or series the PACS does not have is input, and a PACS that is down, slow or garbled is unavailable.
 * The message carries only the logged request form (UIDs as pseudonyms).
 */
export function pacsUserError(e: unknown): UserError | null {
  if (!(e instanceof PacsError)) return null;
  const code =
    e.status === 401 || e.status === 403 ? EXIT.usage : e.status === 404 ? EXIT.input : EXIT.backend;
  return new UserError(e.message, code);
}
