import { Controller, Get, HttpCode, Post } from '@nestjs/common';
import { type AdminSummary, type CreateAdminRequest, HTTP_MESSAGES as M } from '@casam/protocol';
import { adminActor } from '../auth/actor';
import { Allow, CurrentAdmin } from '../auth/auth.decorators';
import type { AdminPrincipal } from '../auth/principal';
import { type RequestMeta, ReqMeta } from '../auth/request-meta';
import { WireBody, WireParams } from '../common/wire-request';
import { AdminsService, toAdminSummary } from './admins.service';

@Controller('api/v1/admins')
export class AdminsController {
  constructor(private readonly admins: AdminsService) {}

  @Allow('viewer')
  @Get()
  async list(): Promise<AdminSummary[]> {
    return (await this.admins.list()).map(toAdminSummary);
  }

  @Post()
  async create(
    @WireBody(M.create_admin) body: CreateAdminRequest,
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<AdminSummary> {
    return toAdminSummary(
      await this.admins.createAdmin({ ...body, via: 'api', by: adminActor(admin.adminId, meta) }),
    );
  }

  @HttpCode(200)
  @Post(':id/disable')
  async disable(
    @WireParams(M.disable_admin) { id }: { id: string },
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<AdminSummary> {
    return toAdminSummary(await this.admins.disable(id, adminActor(admin.adminId, meta)));
  }
}
