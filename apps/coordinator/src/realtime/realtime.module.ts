import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { SitesModule } from '../sites/sites.module';
import { FleetGateway } from './fleet.gateway';
import { RealtimeCluster } from './realtime-cluster';
import { RealtimeRepository } from './realtime.repository';

/** The socket.io gateway (path /socket.io, namespace /v1). */
@Module({
  imports: [SitesModule, AuditModule],
  providers: [FleetGateway, RealtimeRepository, RealtimeCluster],
  exports: [FleetGateway],
})
export class RealtimeModule {}
