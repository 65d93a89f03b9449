import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import type { RotateSiteKeyResponse, SiteSummary } from '@casam/protocol';
import { adminActor } from '../auth/actor';
import { Allow, CurrentAdmin, CurrentSite } from '../auth/auth.decorators';
import type { AdminPrincipal, SitePrincipal } from '../auth/principal';
import { RateLimit } from '../auth/rate-limit/rate-limit.guard';
import { type RequestMeta, ReqMeta } from '../auth/request-meta';
import { SiteKeysService } from './site-keys.service';
import { SitesService } from './sites.service';
import {
  ApproveSiteDto,
  ListSitesQuery,
  ReasonDto,
  RotateSiteKeyDto,
  SiteIdParams,
  SiteKeyParams,
} from './sites.dto';

/** Sites: the admins' view and decisions, and a site's own record and keys (`me` routes, declared first). */
@Controller('api/v1/sites')
export class SitesController {
  constructor(
    private readonly sites: SitesService,
    private readonly siteKeys: SiteKeysService,
  ) {}

  @Allow('viewer')
  @Get()
  list(@Query() query: ListSitesQuery): Promise<SiteSummary[]> {
    return this.sites.list(query);
  }

  @Allow('site')
  @Get('me')
  me(@CurrentSite() site: SitePrincipal): Promise<SiteSummary> {
    return this.siteKeys.me(site);
  }

  @Allow('site')
  @RateLimit('key-rotation')
  @Post('me/keys')
  rotateKey(
    @CurrentSite() site: SitePrincipal,
    @Body() body: RotateSiteKeyDto,
    @ReqMeta() meta: RequestMeta,
  ): Promise<RotateSiteKeyResponse> {
    return this.siteKeys.rotate(site, body, meta);
  }

  @Allow('viewer')
  @Get(':id')
  get(@Param() { id }: SiteIdParams): Promise<SiteSummary> {
    return this.sites.get(id);
  }

  @HttpCode(200)
  @Post(':id/approve')
  approve(
    @Param() { id }: SiteIdParams,
    @Body() body: ApproveSiteDto,
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<SiteSummary> {
    return this.sites.approve(id, body.keyFingerprint, adminActor(admin.adminId, meta));
  }

  @HttpCode(200)
  @Post(':id/reject')
  reject(
    @Param() { id }: SiteIdParams,
    @Body() body: ReasonDto,
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<SiteSummary> {
    return this.sites.reject(id, body.reason, adminActor(admin.adminId, meta));
  }

  @HttpCode(200)
  @Post(':id/revoke')
  revoke(
    @Param() { id }: SiteIdParams,
    @Body() body: ReasonDto,
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<SiteSummary> {
    return this.sites.revoke(id, body.reason, adminActor(admin.adminId, meta));
  }

  @HttpCode(200)
  @Post(':id/key-rotation-request')
  requestKeyRotation(
    @Param() { id }: SiteIdParams,
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<SiteSummary> {
    return this.sites.requestKeyRotation(id, adminActor(admin.adminId, meta));
  }

  @HttpCode(200)
  @Post(':id/keys/:keyId/revoke')
  revokeKey(
    @Param() { id, keyId }: SiteKeyParams,
    @Body() body: ReasonDto,
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<SiteSummary> {
    return this.sites.revokeKey(id, keyId, body.reason, adminActor(admin.adminId, meta));
  }
}
