import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { SigningKeyRepository } from './signing-key.repository';
import { SigningKeysController } from './signing-keys.controller';
import { SigningKeysService } from './signing-keys.service';

/** Bundle-signing keys: creation at first start, rotation, JWKS. */
@Module({
  imports: [AuditModule],
  controllers: [SigningKeysController],
  providers: [SigningKeyRepository, SigningKeysService],
  exports: [SigningKeysService],
})
export class SigningKeysModule {}
