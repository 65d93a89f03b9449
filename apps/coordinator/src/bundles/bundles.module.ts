import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { SigningKeysModule } from '../signing-keys/signing-keys.module';
import { BundleBuilderService } from './bundle-builder.service';
import { BundleRepository } from './bundle.repository';
import { BundlesController } from './bundles.controller';
import { BundlesService } from './bundles.service';

/** Router bundles: the reconciling builder (signs with the signing keys) and their serving. */
@Module({
  imports: [AuditModule, SigningKeysModule],
  controllers: [BundlesController],
  providers: [BundleRepository, BundleBuilderService, BundlesService],
  exports: [BundleBuilderService, BundlesService],
})
export class BundlesModule {}
