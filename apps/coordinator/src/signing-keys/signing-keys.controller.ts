import { Controller, Get, Header, HttpCode, Post } from '@nestjs/common';
import type {
  BundleJwks,
  KeyEndorsements,
  RotateSigningKeyResponse,
  SigningKeyListResponse,
} from '@casam/protocol';
import { Allow, CurrentAdmin, Public } from '../auth/auth.decorators';
import type { AdminPrincipal } from '../auth/principal';
import { SigningKeysService } from './signing-keys.service';

@Controller()
export class SigningKeysController {
  constructor(private readonly keys: SigningKeysService) {}

  /** The public keys bundles are signed with (pending, active, retired). */
  @Public()
  @Get('.well-known/jwks.json')
  @Header('Cache-Control', 'public, max-age=300')
  jwks(): Promise<BundleJwks> {
    return this.keys.jwks();
  }

  /** Each signing key endorsed by its predecessor, so sites can follow a rotation from the key they pinned. */
  @Public()
  @Get('.well-known/casam-key-endorsements.json')
  @Header('Cache-Control', 'public, max-age=300')
  endorsements(): Promise<KeyEndorsements> {
    return this.keys.endorsements();
  }

  @Allow('viewer')
  @Get('api/v1/signing-keys')
  async list(): Promise<SigningKeyListResponse> {
    return { keys: await this.keys.list() };
  }

  /** First call: a new pending key; next call: activate it and retire the active one. */
  @Post('api/v1/signing-keys/rotate')
  @HttpCode(200)
  rotate(@CurrentAdmin() admin: AdminPrincipal): Promise<RotateSigningKeyResponse> {
    return this.keys.rotate({ adminId: admin.adminId });
  }
}
