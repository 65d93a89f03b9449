import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { RequestWithContext } from '../common/request-context';

/** Where a request came from, for audit events, presence and rate limits. */
export interface RequestMeta {
  /** The client address as this process sees it (the proxy's, behind a reverse proxy). */
  address: string | null;
  correlationId: string | null;
}

/**
 * The peer address of the connection. `X-Forwarded-For` is not trusted: anyone can send it, and a rate limit
 * keyed on it could be dodged by changing the header.
 */
export function clientAddress(req: IncomingMessage): string | null {
  const raw = req.socket?.remoteAddress;
  if (!raw) return null;
  return raw.startsWith('::ffff:') ? raw.slice(7) : raw;
}

export function requestMetaOf(req: IncomingMessage): RequestMeta {
  return { address: clientAddress(req), correlationId: (req as RequestWithContext).correlationId ?? null };
}

/** Controller parameter: the {@link RequestMeta} of the current request. */
export const ReqMeta = createParamDecorator((_: unknown, ctx: ExecutionContext): RequestMeta =>
  requestMetaOf(ctx.switchToHttp().getRequest()),
);
