import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { AdaptersModule } from './adapters/adapters.module';
import { AdminUiModule } from './admin-ui/admin-ui.module';
import { AdminsModule } from './admins/admins.module';
import { AuditModule } from './audit/audit.module';
import { AuthApiModule } from './auth/auth-api.module';
import { AuthCoreModule } from './auth/auth.module';
import type { BlobStore } from './blobs/blob-store';
import { BlobsModule } from './blobs/blobs.module';
import { BundlesModule } from './bundles/bundles.module';
import { CommonModule } from './common/common.module';
import { GlobalExceptionFilter } from './common/global-exception.filter';
import { createValidationPipe } from './common/validation.pipe';
import { ConfigModule } from './config/config.module';
import type { CoordinatorConfig } from './config/coordinator-config';
import type { Database } from './database/database';
import { DatabaseModule } from './database/database.module';
import { EnrollmentModule } from './enrollment/enrollment.module';
import { HealthModule } from './health/health.module';
import { MetricsModule } from './metrics/metrics.module';
import { RealtimeModule } from './realtime/realtime.module';
import { SigningKeysModule } from './signing-keys/signing-keys.module';
import { SitesModule } from './sites/sites.module';
import { TasksModule } from './tasks/tasks.module';

/** What the app is built on; opened (and migrated) before Nest starts, see main.ts. */
export interface AppDependencies {
  config: CoordinatorConfig;
  database: Database;
  blobStore: BlobStore;
  /** Root secret (see auth/coordinator-secret.ts); every replica must share it. */
  secret: Uint8Array;
}

@Module({})
export class AppModule {
  static forRoot(deps: AppDependencies): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(deps.config),
        DatabaseModule.forRoot(deps.database),
        BlobsModule.forRoot(deps.blobStore),
        CommonModule,
        AuthCoreModule.forRoot(deps.secret),
        AuditModule,
        AdminsModule,
        SitesModule,
        AuthApiModule,
        EnrollmentModule,
        HealthModule,
        MetricsModule,
        SigningKeysModule,
        TasksModule,
        AdaptersModule,
        BundlesModule,
        RealtimeModule,
        AdminUiModule,
      ],
      providers: [
        { provide: APP_FILTER, useClass: GlobalExceptionFilter },
        { provide: APP_PIPE, useFactory: createValidationPipe },
      ],
    };
  }
}
