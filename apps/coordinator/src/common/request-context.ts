import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CORRELATION_ID_HEADER } from '@casam/protocol';

export const CORRELATION_HEADER = CORRELATION_ID_HEADER;

export interface RequestContext {
  correlationId: string;
  /** Client address as the coordinator sees it (the socket peer; proxies are not trusted). */
  address?: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** The current request's context, when running inside one (logs, audit events, errors read it). */
export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}

export type RequestWithContext = IncomingMessage & { correlationId?: string };

const ACCEPTED_ID = /^[A-Za-z0-9._:-]{1,100}$/;

/**
 * Gives every request a correlation id: the caller's `X-Correlation-Id` (or `X-Request-Id`) when it looks
 * sane, a fresh UUID otherwise. It is echoed in the response header, put on every error body and log line,
 * and recorded with audit events.
 */
export function correlationIdMiddleware(
  req: RequestWithContext,
  res: ServerResponse,
  next: () => void,
): void {
  const offered = req.headers[CORRELATION_HEADER] ?? req.headers['x-request-id'];
  const candidate = Array.isArray(offered) ? offered[0] : offered;
  const correlationId = candidate && ACCEPTED_ID.test(candidate) ? candidate : randomUUID();
  req.correlationId = correlationId;
  res.setHeader(CORRELATION_HEADER, correlationId);
  const peer = req.socket?.remoteAddress;
  const address = peer?.startsWith('::ffff:') ? peer.slice(7) : peer;
  storage.run({ correlationId, address }, next);
}
