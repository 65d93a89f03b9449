import { Module } from '@nestjs/common';
import { AuditEventRepository } from './audit-event.repository';
import { AuditController } from './audit.controller';

@Module({
  providers: [AuditEventRepository],
  controllers: [AuditController],
  exports: [AuditEventRepository],
})
export class AuditModule {}
