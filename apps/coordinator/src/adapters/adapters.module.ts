import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { TasksModule } from '../tasks/tasks.module';
import { AdapterVersionRepository } from './adapter-version.repository';
import { AdaptersController } from './adapters.controller';
import { AdaptersService } from './adapters.service';
import { UploadSessionRepository } from './upload-session.repository';
import { UploadSweeper } from './upload-sweeper';
import { UploadsController } from './uploads.controller';
import { UploadsService } from './uploads.service';

/** Adapter uploads and adapter versions. */
@Module({
  imports: [AuditModule, TasksModule],
  controllers: [UploadsController, AdaptersController],
  providers: [
    AdapterVersionRepository,
    UploadSessionRepository,
    UploadsService,
    AdaptersService,
    UploadSweeper,
  ],
  exports: [AdapterVersionRepository, AdaptersService],
})
export class AdaptersModule {}
