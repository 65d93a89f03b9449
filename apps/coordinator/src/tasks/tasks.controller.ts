import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import type { TaskSummary } from '@casam/protocol';
import { adminActor } from '../auth/actor';
import { Allow, CurrentAdmin, CurrentPrincipal, CurrentSite } from '../auth/auth.decorators';
import type { AdminPrincipal, Principal, SitePrincipal } from '../auth/principal';
import { type RequestMeta, ReqMeta } from '../auth/request-meta';
import { TasksService } from './tasks.service';
import {
  AddTaskContributorDto,
  ListTasksQuery,
  ProposeTaskDto,
  TaskContributorParams,
  TaskDecisionDto,
  TaskIdParams,
} from './tasks.dto';

/** Tasks: sites propose and read them; admins decide and manage contributors (routes without @Allow: admins). */
@Controller('api/v1/tasks')
export class TasksController {
  constructor(private readonly tasks: TasksService) {}

  @Allow('site')
  @Post()
  propose(
    @Body() body: ProposeTaskDto,
    @CurrentSite() site: SitePrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<TaskSummary> {
    return this.tasks.propose(body, { type: 'site', id: site.siteId, meta });
  }

  @Allow('viewer', 'site')
  @Get()
  list(@Query() query: ListTasksQuery, @CurrentPrincipal() who: Principal): Promise<TaskSummary[]> {
    return this.tasks.list(who, query);
  }

  @Allow('viewer', 'site')
  @Get(':id')
  get(@Param() { id }: TaskIdParams, @CurrentPrincipal() who: Principal): Promise<TaskSummary> {
    return this.tasks.get(id, who);
  }

  @HttpCode(200)
  @Post(':id/approve')
  approve(
    @Param() { id }: TaskIdParams,
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<TaskSummary> {
    return this.tasks.approve(id, adminActor(admin.adminId, meta));
  }

  @HttpCode(200)
  @Post(':id/reject')
  reject(
    @Param() { id }: TaskIdParams,
    @Body() body: TaskDecisionDto,
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<TaskSummary> {
    return this.tasks.reject(id, body.reason, adminActor(admin.adminId, meta));
  }

  @HttpCode(200)
  @Post(':id/retire')
  retire(
    @Param() { id }: TaskIdParams,
    @Body() body: TaskDecisionDto,
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<TaskSummary> {
    return this.tasks.retire(id, body.reason, adminActor(admin.adminId, meta));
  }

  @HttpCode(200)
  @Post(':id/contributors')
  addContributor(
    @Param() { id }: TaskIdParams,
    @Body() body: AddTaskContributorDto,
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<TaskSummary> {
    return this.tasks.addContributor(id, body.siteId, adminActor(admin.adminId, meta));
  }

  @Delete(':id/contributors/:siteId')
  removeContributor(
    @Param() { id, siteId }: TaskContributorParams,
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<TaskSummary> {
    return this.tasks.removeContributor(id, siteId, adminActor(admin.adminId, meta));
  }
}
