import type { SiteStatus } from '@prisma/client';
import { IsIn, IsObject, IsOptional, IsString, IsUUID, Length, Matches } from 'class-validator';
import type {
  ApproveSiteRequest,
  ReasonRequest,
  RotateSiteKeyRequest,
  SiteTokenRequest,
} from '@casam/protocol';

export class SiteIdParams {
  @IsUUID()
  id!: string;
}

export class SiteKeyParams {
  @IsUUID()
  id!: string;

  @IsUUID()
  keyId!: string;
}

export class ListSitesQuery {
  @IsOptional()
  @IsIn(['pending', 'approved', 'rejected', 'revoked'])
  status?: SiteStatus;
}

export class ApproveSiteDto implements ApproveSiteRequest {
  @IsString()
  @Length(1, 100)
  keyFingerprint!: string;
}

export class ReasonDto implements ReasonRequest {
  @IsString()
  @Length(1, 2000)
  @Matches(/\S/, { message: 'reason must not be blank' })
  reason!: string;
}

export class RotateSiteKeyDto implements Omit<RotateSiteKeyRequest, 'publicJwk'> {
  /** Checked by the service (parseSitePublicJwk), so a private or foreign key gets its own error code. */
  @IsObject()
  publicJwk!: Record<string, unknown>;

  @IsString()
  @Length(1, 8192)
  proof!: string;
}

export class SiteTokenDto implements SiteTokenRequest {
  @IsString()
  @Length(1, 8192)
  assertion!: string;
}
