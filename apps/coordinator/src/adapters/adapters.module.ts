import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { SitesModule } from '../sites/sites.module';
import { TasksModule } from '../tasks/tasks.module';
import { AdapterIntakeService } from './adapter-intake.service';
import { AdapterVersionRepository } from './adapter-version.repository';
import { AdaptersController } from './adapters.controller';
import { AdaptersService } from './adapters.service';
import { UploadSessionRepository } from './upload-session.repository';
import { UploadSweeper } from './upload-sweeper';
import { UploadsController } from './uploads.controller';
import { UploadBlobs } from './upload-blobs';
import { UploadSessionsService } from './upload-sessions.service';

/** Adapter uploads and adapter versions. */
@Module({
  imports: [AuditModule, SitesModule, TasksModule],
  controllers: [UploadsController, AdaptersController],
  providers: [
    AdapterVersionRepository,
    UploadSessionRepository,
    UploadBlobs,
    UploadSessionsService,
    AdapterIntakeService,
    AdaptersService,
    UploadSweeper,
  ],
  exports: [AdapterVersionRepository, AdaptersService],
})
export class AdaptersModule {}
