import { Module } from '@nestjs/common';
import { AuditModule } from '../../audit/audit.module';
import { AuthRateLimiter } from './auth-rate-limiter';
import { RateLimitGuard } from './rate-limit.guard';

/** The auth endpoints' rate limits; import it where `@RateLimit` is used. */
@Module({
  imports: [AuditModule],
  providers: [AuthRateLimiter, RateLimitGuard],
  exports: [AuthRateLimiter, RateLimitGuard, AuditModule],
})
export class RateLimitModule {}
