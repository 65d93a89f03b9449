import { STATUS_CODES } from 'node:http';

/** What went wrong with a PACS request: an HTTP status, or no usable answer at all. */
/** `refused`: the PACS answered 2xx but listed instances it did not store (STOW-RS failed SOP sequence). */
export type PacsFailure = number | 'timeout' | 'network' | 'protocol' | 'refused';

/**
 * A PACS request that did not give what was asked: a status with a one-line reason an operator can act on.
 * `target` is the logged form of the request (UIDs as pseudonyms, no identifying query values), so the
 * message can be printed, logged or shown anywhere without carrying patient or study identity.
 */
export class PacsError extends Error {
  override name = 'PacsError';
  constructor(
    readonly status: PacsFailure,
    readonly reason: string,
    readonly target: string,
  ) {
    super(`PACS ${target}: ${reason}`);
  }
}

/** The reason for an HTTP status the PACS answered with. */
export function statusReason(status: number): string {
  const said = `${status} ${STATUS_CODES[status] ?? ''}`.trimEnd();
  if (status === 400) return `${said}: the PACS could not use the request`;
  if (status === 401)
    return `${said}: the PACS refused the credentials (check the PACS auth header or user:password)`;
  if (status === 403) return `${said}: the PACS account is not allowed to do this`;
  if (status === 404)
    return `${said}: no such study, series or instance on the PACS (or the URL is not its DICOMweb root)`;
  if (status === 406) return `${said}: the PACS cannot send the requested transfer syntax`;
  if (status === 409) return `${said}: the PACS refused the instances (conflict)`;
  if (status >= 500) return `${said}: the PACS failed; try again later or ask its administrators`;
  return `${said}: unexpected answer from the PACS`;
}

/** The reason for a request that got no HTTP answer. */
export function transportFailure(e: unknown, timeoutMs: number): { status: PacsFailure; reason: string } {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError' || err.name === 'AbortError')
    return { status: 'timeout', reason: `no answer within ${timeoutMs} ms` };
  const code = err.cause?.code;
  const detail = code ?? err.cause?.message ?? err.message;
  if (code === 'ECONNREFUSED')
    return { status: 'network', reason: 'connection refused (is the PACS URL right?)' };
  if (code === 'ENOTFOUND') return { status: 'network', reason: 'the PACS host name does not resolve' };
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code))
    return {
      status: 'network',
      reason: `the PACS certificate is not trusted (${code}): set NODE_EXTRA_CA_CERTS=<the hospital CA, PEM>`,
    };
  return { status: 'network', reason: `request failed: ${detail}`.slice(0, 200) };
}

/** PS3.18 §I.2 failure reasons, as hex, with a word for the common ones. */
export function storeFailureReason(code: string): string {
  const n = Number(code);
  if (!Number.isFinite(n)) return code;
  const hex = `0x${n.toString(16).toUpperCase().padStart(4, '0')}`;
  const words: Record<number, string> = {
    0xa700: 'out of resources',
    0xa900: 'data set does not match SOP class',
    0xc000: 'cannot understand',
    0x0110: 'processing failure',
    0x0122: 'SOP class not supported',
    0x0124: 'not authorized',
  };
  return words[n] ? `${hex} ${words[n]}` : hex;
}
