import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import type { AdminSummary } from '@casam/protocol';
import { adminActor } from '../auth/actor';
import { Allow, CurrentAdmin } from '../auth/auth.decorators';
import type { AdminPrincipal } from '../auth/principal';
import { type RequestMeta, ReqMeta } from '../auth/request-meta';
import { AdminIdParams, CreateAdminDto } from './admins.dto';
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
    @Body() body: CreateAdminDto,
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
    @Param() { id }: AdminIdParams,
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<AdminSummary> {
    return toAdminSummary(await this.admins.disable(id, adminActor(admin.adminId, meta)));
  }
}
