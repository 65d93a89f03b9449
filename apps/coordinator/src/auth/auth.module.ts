import { type DynamicModule, Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AccessTokenService } from './access-token.service';
import { AuthGuard } from './auth.guard';
import { COORDINATOR_SECRET } from './auth.tokens';
import { PrincipalResolver } from './principal-resolver';
import { PrincipalRepository } from './principal.repository';

/** Access tokens and the global guard. Login, enrollment and site keys build on it. */
@Global()
@Module({})
export class AuthCoreModule {
  static forRoot(secret: Uint8Array): DynamicModule {
    return {
      module: AuthCoreModule,
      providers: [
        { provide: COORDINATOR_SECRET, useValue: secret },
        AccessTokenService,
        PrincipalRepository,
        PrincipalResolver,
        { provide: APP_GUARD, useClass: AuthGuard },
      ],
      exports: [COORDINATOR_SECRET, AccessTokenService, PrincipalResolver],
    };
  }
}
