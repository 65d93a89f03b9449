import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { RateLimitModule } from '../auth/rate-limit/rate-limit.module';
import { ReplayGuard } from './replay-guard';
import { SiteAuthService } from './site-auth.service';
import { SiteKeyRepository } from './site-key.repository';
import { SiteKeysService } from './site-keys.service';
import { SiteRepository } from './site.repository';
import { SitesController } from './sites.controller';
import { SitesService } from './sites.service';
import { UsedTokenIdRepository } from './used-token-id.repository';

@Module({
  imports: [AuditModule, RateLimitModule],
  controllers: [SitesController],
  providers: [
    SiteRepository,
    SiteKeyRepository,
    UsedTokenIdRepository,
    ReplayGuard,
    SitesService,
    SiteKeysService,
    SiteAuthService,
  ],
  exports: [SiteRepository, SiteKeyRepository, SiteAuthService, SitesService],
})
export class SitesModule {}
