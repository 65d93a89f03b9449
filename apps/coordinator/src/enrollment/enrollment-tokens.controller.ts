import { Controller, Get, HttpCode, Post } from '@nestjs/common';
import {
  type CreatedEnrollmentToken,
  type CreateEnrollmentTokenRequest,
  type EnrollmentTokenSummary,
  HTTP_MESSAGES as M,
} from '@casam/protocol';
import { adminActor } from '../auth/actor';
import { Allow, CurrentAdmin } from '../auth/auth.decorators';
import type { AdminPrincipal } from '../auth/principal';
import { type RequestMeta, ReqMeta } from '../auth/request-meta';
import { WireBody, WireParams } from '../common/wire-request';
import { EnrollmentTokensService } from './enrollment-tokens.service';

@Controller('api/v1/enrollment-tokens')
export class EnrollmentTokensController {
  constructor(private readonly tokens: EnrollmentTokensService) {}

  /** The answer holds the token itself: the only time it is ever shown. */
  @Post()
  create(
    @WireBody(M.create_enrollment_token) body: CreateEnrollmentTokenRequest,
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<CreatedEnrollmentToken> {
    return this.tokens.create(body, adminActor(admin.adminId, meta));
  }

  @Allow('viewer')
  @Get()
  list(): Promise<EnrollmentTokenSummary[]> {
    return this.tokens.list();
  }

  @HttpCode(200)
  @Post(':id/revoke')
  revoke(
    @WireParams(M.revoke_enrollment_token) { id }: { id: string },
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<EnrollmentTokenSummary> {
    return this.tokens.revoke(id, adminActor(admin.adminId, meta));
  }
}
