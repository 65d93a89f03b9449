import { createParamDecorator, type ExecutionContext, SetMetadata } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { AdminPrincipal, Audience, Principal, SitePrincipal } from './principal';

export const AUDIENCE_METADATA = 'casam:audience';
export const PUBLIC_AUDIENCE = 'public';

/**
 * Who may call a route (on a controller or a handler; the handler wins). Routes without it need an `admin`
 * token: forgetting the decorator locks a route, it never opens one. Several audiences admit any of them
 * (`@Allow('viewer', 'site')`: both admin roles and sites).
 */
export const Allow = (
  ...audiences: [Audience | typeof PUBLIC_AUDIENCE, ...(Audience | typeof PUBLIC_AUDIENCE)[]]
): MethodDecorator & ClassDecorator => SetMetadata(AUDIENCE_METADATA, audiences);

/** No token needed (login, enrollment, assertion exchange, JWKS, health). */
export const Public = (): MethodDecorator & ClassDecorator => Allow(PUBLIC_AUDIENCE);

export type RequestWithPrincipal = IncomingMessage & { principal?: Principal };

/** The authenticated caller of the current request (set by the AuthGuard). */
export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const p = ctx.switchToHttp().getRequest<RequestWithPrincipal>().principal;
  if (!p) throw new Error('CurrentPrincipal used on a route without authentication');
  return p;
});

export const CurrentAdmin = createParamDecorator((_: unknown, ctx: ExecutionContext): AdminPrincipal => {
  const p = ctx.switchToHttp().getRequest<RequestWithPrincipal>().principal;
  if (p?.kind !== 'admin') throw new Error('CurrentAdmin used on a route not restricted to admins');
  return p;
});

export const CurrentSite = createParamDecorator((_: unknown, ctx: ExecutionContext): SitePrincipal => {
  const p = ctx.switchToHttp().getRequest<RequestWithPrincipal>().principal;
  if (p?.kind !== 'site') throw new Error('CurrentSite used on a route not restricted to sites');
  return p;
});
