import { Controller, Get, HttpCode, Post, UseFilters } from '@nestjs/common';
import {
  type AcceptedRequest,
  type AccessTokenResponse,
  HTTP_MESSAGES as M,
  type LoginRequest,
  type LoginResponse,
  type MeResponse,
} from '@casam/protocol';
import { AdminsService, toAdminSummary } from '../admins/admins.service';
import { SiteAuthService } from '../sites/site-auth.service';
import { WireBody } from '../common/wire-request';
import { Allow, CurrentAdmin, Public } from './auth.decorators';
import { LoginRefusalAuditFilter } from './login-refusal.filter';
import { LoginService } from './login.service';
import type { AdminPrincipal } from './principal';
import { RateLimit } from './rate-limit/rate-limit.guard';
import { type RequestMeta, ReqMeta } from './request-meta';

/** Getting access tokens: admins with email + password, sites with a signed assertion. */
@Controller('api/v1/auth')
export class AuthController {
  constructor(
    private readonly login: LoginService,
    private readonly siteAuth: SiteAuthService,
    private readonly admins: AdminsService,
  ) {}

  @Public()
  @RateLimit('login', { alsoByBodyField: 'email' })
  @UseFilters(LoginRefusalAuditFilter)
  @HttpCode(200)
  @Post('login')
  logIn(@WireBody(M.login) body: LoginRequest, @ReqMeta() meta: RequestMeta): Promise<LoginResponse> {
    return this.login.login(body.email, body.password, meta);
  }

  @Allow('viewer')
  @Get('me')
  async me(@CurrentAdmin() admin: AdminPrincipal): Promise<MeResponse> {
    return toAdminSummary(await this.admins.get(admin.adminId));
  }

  @Public()
  @RateLimit('site-token')
  @HttpCode(200)
  @Post('site-token')
  siteToken(
    @WireBody(M.site_token) body: AcceptedRequest<typeof M.site_token>,
    @ReqMeta() meta: RequestMeta,
  ): Promise<AccessTokenResponse> {
    return this.siteAuth.exchange(body.assertion, meta);
  }
}
