import { Controller, Get, Headers, HttpCode, Post, Res } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { type AdapterVersionSummary, HTTP_MESSAGES as M, type ReasonRequest } from '@casam/protocol';
import { adminActor } from '../auth/actor';
import { Allow, CurrentAdmin, CurrentPrincipal } from '../auth/auth.decorators';
import type { AdminPrincipal, Principal } from '../auth/principal';
import { type RequestMeta, ReqMeta } from '../auth/request-meta';
import { WireBody, WireParams } from '../common/wire-request';
import { AdaptersService } from './adapters.service';

/** Adapter versions: read by admins, viewers and sites (within what they may see); decided by admins. */
@Controller('api/v1')
export class AdaptersController {
  constructor(private readonly adapters: AdaptersService) {}

  @Allow('viewer', 'site')
  @Get('tasks/:id/adapters')
  listForTask(
    @WireParams(M.list_task_adapters) { id }: { id: string },
    @CurrentPrincipal() who: Principal,
  ): Promise<AdapterVersionSummary[]> {
    return this.adapters.listForTask(id, who);
  }

  @Allow('viewer', 'site')
  @Get('adapters/:id')
  get(
    @WireParams(M.get_adapter) { id }: { id: string },
    @CurrentPrincipal() who: Principal,
  ): Promise<AdapterVersionSummary> {
    return this.adapters.get(id, who);
  }

  /** The safetensors file exactly as uploaded; ETag = its sha256, so a cached copy answers 304. */
  @Allow('viewer', 'site')
  @Get('adapters/:id/file')
  async file(
    @WireParams(M.adapter_file) { id }: { id: string },
    @CurrentPrincipal() who: Principal,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res() res: ServerResponse,
  ): Promise<void> {
    const f = await this.adapters.file(id, who, ifNoneMatch);
    const headers = { etag: `"${f.sha256}"`, 'cache-control': 'private, max-age=0, must-revalidate' };
    if (!f.stream) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, {
      ...headers,
      'content-type': 'application/octet-stream',
      'content-length': String(f.size),
      'content-disposition': `attachment; filename="${f.filename}"`,
    });
    // Headers are out: a failure now (e.g. corruption found at the end) can only cut the connection.
    await pipeline(f.stream, res).catch(() => res.destroy());
  }

  @HttpCode(200)
  @Post('adapters/:id/approve')
  approve(
    @WireParams(M.approve_adapter) { id }: { id: string },
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<AdapterVersionSummary> {
    return this.adapters.approve(id, adminActor(admin.adminId, meta));
  }

  @HttpCode(200)
  @Post('adapters/:id/reject')
  reject(
    @WireParams(M.reject_adapter) { id }: { id: string },
    @WireBody(M.reject_adapter) body: ReasonRequest,
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<AdapterVersionSummary> {
    return this.adapters.reject(id, body.reason, adminActor(admin.adminId, meta));
  }
}
