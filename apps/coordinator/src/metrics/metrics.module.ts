import { Global, Module } from '@nestjs/common';
import { MetricsController } from './metrics.controller';
import { FederationStatsRepository } from './federation-stats.repository';
import { MetricsService } from './metrics.service';

@Global()
@Module({
  providers: [FederationStatsRepository, MetricsService],
  controllers: [MetricsController],
  exports: [MetricsService],
})
export class MetricsModule {}
