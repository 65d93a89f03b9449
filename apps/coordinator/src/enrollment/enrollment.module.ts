import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { RateLimitModule } from '../auth/rate-limit/rate-limit.module';
import { SitesModule } from '../sites/sites.module';
import { EnrollmentTokenRepository } from './enrollment-token.repository';
import { EnrollmentController } from './enrollment.controller';
import { EnrollmentService } from './enrollment.service';
import { EnrollmentTokensController } from './enrollment-tokens.controller';
import { EnrollmentTokensService } from './enrollment-tokens.service';

@Module({
  imports: [AuditModule, RateLimitModule, SitesModule],
  controllers: [EnrollmentTokensController, EnrollmentController],
  providers: [EnrollmentTokenRepository, EnrollmentTokensService, EnrollmentService],
})
export class EnrollmentModule {}
