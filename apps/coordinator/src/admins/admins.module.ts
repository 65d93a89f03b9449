import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { AdminRepository } from './admin.repository';
import { AdminsController } from './admins.controller';
import { AdminsService } from './admins.service';
import { PasswordHasher } from './password-hasher';

@Module({
  imports: [AuditModule],
  controllers: [AdminsController],
  providers: [AdminRepository, AdminsService, PasswordHasher],
  exports: [AdminRepository, AdminsService, PasswordHasher],
})
export class AdminsModule {}
