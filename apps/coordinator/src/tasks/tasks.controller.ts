import { Controller, Delete, Get, HttpCode, Post } from '@nestjs/common';
import {
  type AcceptedRequest,
  HTTP_MESSAGES as M,
  type ListTasksQuery,
  type ReasonRequest,
  type TaskSummary,
} from '@casam/protocol';
import { adminActor } from '../auth/actor';
import { Allow, CurrentAdmin, CurrentPrincipal, CurrentSite } from '../auth/auth.decorators';
import type { AdminPrincipal, Principal, SitePrincipal } from '../auth/principal';
import { type RequestMeta, ReqMeta } from '../auth/request-meta';
import { WireBody, WireParams, WireQuery } from '../common/wire-request';
import { TasksService } from './tasks.service';

/** Tasks: sites propose and read them; admins decide and manage contributors (routes without @Allow: admins). */
@Controller('api/v1/tasks')
export class TasksController {
  constructor(private readonly tasks: TasksService) {}

  @Allow('site')
  @Post()
  propose(
    @WireBody(M.propose_task) body: AcceptedRequest<typeof M.propose_task>,
    @CurrentSite() site: SitePrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<TaskSummary> {
    return this.tasks.propose(body, { type: 'site', id: site.siteId, meta });
  }

  @Allow('viewer', 'site')
  @Get()
  list(
    @WireQuery(M.list_tasks) query: ListTasksQuery,
    @CurrentPrincipal() who: Principal,
  ): Promise<TaskSummary[]> {
    return this.tasks.list(who, query);
  }

  @Allow('viewer', 'site')
  @Get(':id')
  get(
    @WireParams(M.get_task) { id }: { id: string },
    @CurrentPrincipal() who: Principal,
  ): Promise<TaskSummary> {
    return this.tasks.get(id, who);
  }

  @HttpCode(200)
  @Post(':id/approve')
  approve(
    @WireParams(M.approve_task) { id }: { id: string },
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<TaskSummary> {
    return this.tasks.approve(id, adminActor(admin.adminId, meta));
  }

  @HttpCode(200)
  @Post(':id/reject')
  reject(
    @WireParams(M.reject_task) { id }: { id: string },
    @WireBody(M.reject_task) body: ReasonRequest,
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<TaskSummary> {
    return this.tasks.reject(id, body.reason, adminActor(admin.adminId, meta));
  }

  @HttpCode(200)
  @Post(':id/retire')
  retire(
    @WireParams(M.retire_task) { id }: { id: string },
    @WireBody(M.retire_task) body: ReasonRequest,
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<TaskSummary> {
    return this.tasks.retire(id, body.reason, adminActor(admin.adminId, meta));
  }

  @HttpCode(200)
  @Post(':id/contributors')
  addContributor(
    @WireParams(M.add_task_contributor) { id }: { id: string },
    @WireBody(M.add_task_contributor) body: { siteId: string },
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<TaskSummary> {
    return this.tasks.addContributor(id, body.siteId, adminActor(admin.adminId, meta));
  }

  @Delete(':id/contributors/:siteId')
  removeContributor(
    @WireParams(M.remove_task_contributor) { id, siteId }: { id: string; siteId: string },
    @CurrentAdmin() admin: AdminPrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<TaskSummary> {
    return this.tasks.removeContributor(id, siteId, adminActor(admin.adminId, meta));
  }
}
