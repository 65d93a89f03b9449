import { IsInt, IsObject, IsOptional, IsString, IsUUID, Length, Max, Min } from 'class-validator';
import type { CreateEnrollmentTokenRequest, EnrollSiteRequest } from '@casam/protocol';
import {
  MAX_ENROLLMENT_TOKEN_TTL_SECONDS,
  MIN_ENROLLMENT_TOKEN_TTL_SECONDS,
} from './enrollment-tokens.service';
import { IsName } from '../common/is-name.validator';

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

export class EnrollSiteDto implements Omit<EnrollSiteRequest, 'publicJwk'> {
  @IsString()
  @Length(1, 200)
  enrollmentToken!: string;

  /** One line of printable text, not blank (the rule every name follows, `nameProblem` in libs/protocol). */
  @IsName(200)
  siteName!: string;

  /** Checked by the service (parseSitePublicJwk), so a private or foreign key gets its own error code. */
  @IsObject()
  publicJwk!: Record<string, unknown>;

  @IsOptional()
  @IsString()
  @Length(1, 50)
  agentVersion?: string;
}
