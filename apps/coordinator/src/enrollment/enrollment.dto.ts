import { IsInt, IsObject, IsOptional, IsString, IsUUID, Length, Matches, Max, Min } from 'class-validator';
import type { CreateEnrollmentTokenRequest, EnrollSiteRequest } from '@casam/protocol';
import {
  MAX_ENROLLMENT_TOKEN_TTL_SECONDS,
  MIN_ENROLLMENT_TOKEN_TTL_SECONDS,
} from './enrollment-tokens.service';

export class CreateEnrollmentTokenDto implements CreateEnrollmentTokenRequest {
  @IsOptional()
  @IsString()
  @Length(1, 200)
  label?: string;

  @IsOptional()
  @IsInt()
  @Min(MIN_ENROLLMENT_TOKEN_TTL_SECONDS)
  @Max(MAX_ENROLLMENT_TOKEN_TTL_SECONDS)
  ttlSeconds?: number;
}

export class EnrollmentTokenIdParams {
  @IsUUID()
  id!: string;
}

/** Printable, no control characters, not blank; 1 to 200 characters after trimming. */
const SITE_NAME = /^(?=.*\S)[^\u0000-\u001f\u007f]{1,200}$/;

export class EnrollSiteDto implements Omit<EnrollSiteRequest, 'publicJwk'> {
  @IsString()
  @Length(1, 200)
  enrollmentToken!: string;

  @IsString()
  @Matches(SITE_NAME, { message: 'siteName must be 1 to 200 printable characters, not blank' })
  siteName!: string;

  /** Checked by the service (parseSitePublicJwk), so a private or foreign key gets its own error code. */
  @IsObject()
  publicJwk!: Record<string, unknown>;

  @IsOptional()
  @IsString()
  @Length(1, 50)
  agentVersion?: string;
}
