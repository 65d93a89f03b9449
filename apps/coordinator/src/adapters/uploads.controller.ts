import { Body, Controller, Get, HttpCode, Param, Post, Put, Req, Res } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CompleteUploadResponse, UploadChunkResponse, UploadSessionResponse } from '@casam/protocol';
import { Allow, CurrentSite } from '../auth/auth.decorators';
import type { SitePrincipal } from '../auth/principal';
import { type RequestMeta, ReqMeta } from '../auth/request-meta';
import { ChunkParams, CompleteUploadDto, CreateUploadDto, UploadIdParams } from './adapters.dto';
import { UploadsService, siteActor } from './uploads.service';

/** Chunked, resumable adapter uploads (sites only; a site sees only its own uploads). */
@Allow('site')
@Controller('api/v1/uploads')
export class UploadsController {
  constructor(private readonly uploads: UploadsService) {}

  @Post()
  create(
    @Body() body: CreateUploadDto,
    @CurrentSite() site: SitePrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<UploadSessionResponse> {
    return this.uploads.create(body, siteActor(site, meta));
  }

  @Get(':id')
  get(@Param() { id }: UploadIdParams, @CurrentSite() site: SitePrincipal): Promise<UploadSessionResponse> {
    return this.uploads.get(id, site);
  }

  /**
   * Raw body, read by the service with the chunk's exact size as the limit. 201 when stored now, 200 when it
   * was already there (so the answer is written here: Nest would send one fixed status).
   */
  @Put(':id/chunks/:index')
  async putChunk(
    @Param() { id, index }: ChunkParams,
    @Req() req: IncomingMessage,
    @Res() res: ServerResponse,
    @CurrentSite() site: SitePrincipal,
  ): Promise<void> {
    const result: UploadChunkResponse = await this.uploads.putChunk(id, index, req, site);
    res.writeHead(result.created ? 201 : 200, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(result));
  }

  @HttpCode(200)
  @Post(':id/complete')
  complete(
    @Param() { id }: UploadIdParams,
    @Body() body: CompleteUploadDto,
    @CurrentSite() site: SitePrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<CompleteUploadResponse> {
    return this.uploads.complete(id, body.signature, siteActor(site, meta));
  }
}
