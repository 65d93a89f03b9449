import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type ApiErrorBody,
  checkProtocolCompatibility,
  PROTOCOL_HEADER,
  PROTOCOL_UPGRADE_HEADER,
  PROTOCOL_VERSION,
} from '@casam/protocol';
import type { RequestWithContext } from './request-context';

/** Response header set when the client is served but one minor version behind. */
export const UPGRADE_ADVICE_HEADER = PROTOCOL_UPGRADE_HEADER;

/**
 * The protocol-version handshake of the REST API. Every response carries the coordinator's version in
 * `X-Casam-Protocol`. A client that sends its own (the site agent always does) is served when it is at most
 * one minor version behind — with an upgrade hint header — and refused with 426 `protocol_too_old` (or 400
 * `protocol_invalid`, 426 `protocol_too_new`) otherwise, before any route runs. Clients that send none
 * (browsers, curl) are served.
 */
export function protocolVersionMiddleware(server: string = PROTOCOL_VERSION) {
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void =>
    handshake(server, req, res, next);
}

function handshake(server: string, req: IncomingMessage, res: ServerResponse, next: () => void): void {
  res.setHeader(PROTOCOL_HEADER, server);
  const raw = req.headers[PROTOCOL_HEADER];
  const offered = Array.isArray(raw) ? raw[0] : raw;
  if (offered === undefined) return next();
  const check = checkProtocolCompatibility(offered.trim(), server);
  if (check.ok) {
    if (check.outdated)
      res.setHeader(
        UPGRADE_ADVICE_HEADER,
        `protocol ${offered.trim()} is one minor version behind ${server}; the next coordinator release will refuse it`,
      );
    return next();
  }
  const body: ApiErrorBody = {
    error: {
      code: check.code,
      message: check.message,
      correlationId: (req as RequestWithContext).correlationId ?? '',
      details: { serverProtocol: server, clientProtocol: offered.slice(0, 40) },
    },
  };
  res.statusCode = check.code === 'protocol_invalid' ? 400 : 426;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(JSON.stringify(body));
}
