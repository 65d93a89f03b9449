import { Module } from '@nestjs/common';
import { AdminsModule } from '../admins/admins.module';
import { AuditModule } from '../audit/audit.module';
import { SitesModule } from '../sites/sites.module';
import { AuthController } from './auth.controller';
import { LoginService } from './login.service';
import { RateLimitModule } from './rate-limit/rate-limit.module';

/** The auth endpoints (login, me, site-token); the token machinery itself is AuthCoreModule. */
@Module({
  imports: [AdminsModule, SitesModule, AuditModule, RateLimitModule],
  controllers: [AuthController],
  providers: [LoginService],
})
export class AuthApiModule {}
