import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ForbiddenError, UnauthenticatedError } from '../common/domain-error';
import { AUDIENCE_METADATA, PUBLIC_AUDIENCE, type RequestWithPrincipal } from './auth.decorators';
import { adminRoleSatisfies, type Audience } from './principal';
import { bearerToken, PrincipalResolver } from './principal-resolver';

/**
 * The global guard of every HTTP route: reads the route's {@link Allow} audience (default `admin`), resolves
 * the bearer token to a live principal and checks it may call the route. 401 for no/invalid/expired/revoked
 * credentials, 403 for a valid caller of the wrong kind or role.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly resolver: PrincipalResolver,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    const audiences = this.reflector.getAllAndOverride<(Audience | typeof PUBLIC_AUDIENCE)[] | undefined>(
      AUDIENCE_METADATA,
      [ctx.getHandler(), ctx.getClass()],
    ) ?? ['admin'];
    if (audiences.includes(PUBLIC_AUDIENCE)) return true;
    const req = ctx.switchToHttp().getRequest<RequestWithPrincipal>();
    const token = bearerToken(req.headers.authorization);
    if (!token)
      throw new UnauthenticatedError(
        'missing_token',
        'this route needs an access token: Authorization: Bearer <token>',
      );
    const principal = await this.resolver.resolveToken(token);
    const adminAudiences = audiences.filter((a): a is 'viewer' | 'admin' => a === 'viewer' || a === 'admin');
    if (principal.kind === 'site' && !audiences.includes('site'))
      throw new ForbiddenError('forbidden', 'only admins may call this route');
    if (principal.kind === 'admin') {
      if (adminAudiences.length === 0)
        throw new ForbiddenError('forbidden', 'only enrolled sites may call this route');
      if (!adminAudiences.some((a) => adminRoleSatisfies(principal.role, a)))
        throw new ForbiddenError(
          'forbidden',
          `this route needs the ${adminAudiences.includes('viewer') ? 'viewer' : 'admin'} role; you are ${principal.role}`,
        );
    }
    req.principal = principal;
    return true;
  }
}
