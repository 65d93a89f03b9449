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
    const audience =
      this.reflector.getAllAndOverride<Audience | typeof PUBLIC_AUDIENCE | undefined>(AUDIENCE_METADATA, [
        ctx.getHandler(),
        ctx.getClass(),
      ]) ?? 'admin';
    if (audience === PUBLIC_AUDIENCE) return true;
    const req = ctx.switchToHttp().getRequest<RequestWithPrincipal>();
    const token = bearerToken(req.headers.authorization);
    if (!token)
      throw new UnauthenticatedError(
        'missing_token',
        'this route needs an access token: Authorization: Bearer <token>',
      );
    const principal = await this.resolver.resolveToken(token);
    if (audience === 'site' && principal.kind !== 'site')
      throw new ForbiddenError('forbidden', 'only enrolled sites may call this route');
    if (audience !== 'site') {
      if (principal.kind !== 'admin')
        throw new ForbiddenError('forbidden', 'only admins may call this route');
      if (!adminRoleSatisfies(principal.role, audience))
        throw new ForbiddenError(
          'forbidden',
          `this route needs the ${audience} role; you are ${principal.role}`,
        );
    }
    req.principal = principal;
    return true;
  }
}
