import { Controller, Get, HttpCode, Post } from '@nestjs/common';
import {
  type AcceptedRequest,
  HTTP_MESSAGES as M,
  type ListSitesQuery,
  type ReasonRequest,
  type RotateSiteKeyResponse,
  type SiteSummary,
} from '@casam/protocol';
import { adminActor } from '../auth/actor';
import { Allow, CurrentAdmin, CurrentSite } from '../auth/auth.decorators';
import type { AdminPrincipal, SitePrincipal } from '../auth/principal';
import { RateLimit } from '../auth/rate-limit/rate-limit.guard';
import { type RequestMeta, ReqMeta } from '../auth/request-meta';
import { WireBody, WireParams, WireQuery } from '../common/wire-request';
import { SiteKeysService } from './site-keys.service';
import { SitesService } from './sites.service';

/** Sites: the admins' view and decisions, and a site's own record and keys (`me` routes, declared first). */
@Controller('api/v1/sites')
export class SitesController {
  constructor(
    private readonly sites: SitesService,
    private readonly siteKeys: SiteKeysService,
  ) {}

  @Allow('viewer')
  @Get()
  list(@WireQuery(M.list_sites) query: ListSitesQuery): Promise<SiteSummary[]> {
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
    @WireBody(M.key_rotation) body: AcceptedRequest<typeof M.key_rotation>,
    @ReqMeta() meta: RequestMeta,
  ): Promise<RotateSiteKeyResponse> {
    return this.siteKeys.rotate(site, body, meta);
  }

  @Allow('viewer')
  @Get(':id')
  get(@WireParams(M.get_site) { id }: { id: string }): Promise<SiteSummary> {
    return this.sites.get(id);
  }

  @HttpCode(200)
  @Post(':id/approve')
  approve(
    @WireParams(M.approve_site) { id }: { id: string },
    @WireBody(M.approve_site) body: AcceptedRequest<typeof M.approve_site>,
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<SiteSummary> {
    return this.sites.approve(id, body.keyFingerprint, adminActor(admin.adminId, meta));
  }

  @HttpCode(200)
  @Post(':id/reject')
  reject(
    @WireParams(M.reject_site) { id }: { id: string },
    @WireBody(M.reject_site) body: ReasonRequest,
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<SiteSummary> {
    return this.sites.reject(id, body.reason, adminActor(admin.adminId, meta));
  }

  @HttpCode(200)
  @Post(':id/revoke')
  revoke(
    @WireParams(M.revoke_site) { id }: { id: string },
    @WireBody(M.revoke_site) body: ReasonRequest,
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<SiteSummary> {
    return this.sites.revoke(id, body.reason, adminActor(admin.adminId, meta));
  }

  @HttpCode(200)
  @Post(':id/key-rotation-request')
  requestKeyRotation(
    @WireParams(M.request_key_rotation) { id }: { id: string },
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<SiteSummary> {
    return this.sites.requestKeyRotation(id, adminActor(admin.adminId, meta));
  }

  @HttpCode(200)
  @Post(':id/keys/:keyId/revoke')
  revokeKey(
    @WireParams(M.revoke_site_key) { id, keyId }: { id: string; keyId: string },
    @WireBody(M.revoke_site_key) body: ReasonRequest,
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<SiteSummary> {
    return this.sites.revokeKey(id, keyId, body.reason, adminActor(admin.adminId, meta));
  }
}
