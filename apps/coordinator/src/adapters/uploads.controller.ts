import { Controller, Get, HttpCode, Post, Put, Req, Res } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AcceptedRequest,
  CHUNK_CONTENT_TYPE,
  CHUNK_SHA256_HEADER,
  type CompleteUploadResponse,
  HTTP_MESSAGES as M,
  type UploadChunkResponse,
  type UploadSessionResponse,
} from '@casam/protocol';
import { Allow, CurrentSite } from '../auth/auth.decorators';
import type { SitePrincipal } from '../auth/principal';
import { type RequestMeta, ReqMeta } from '../auth/request-meta';
import { WireBody, WireParams } from '../common/wire-request';
import { ChunkHashMissingError, UnsupportedChunkMediaTypeError } from './adapter.errors';
import { AdapterIntakeService } from './adapter-intake.service';
import { readChunkBody } from './chunk-body';
import { type IncomingChunk, siteActor, UploadSessionsService } from './upload-sessions.service';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Chunked, resumable adapter uploads (sites only; a site sees only its own uploads). */
@Allow('site')
@Controller('api/v1/uploads')
export class UploadsController {
  constructor(
    private readonly uploads: UploadSessionsService,
    private readonly intake: AdapterIntakeService,
  ) {}

  @Post()
  create(
    @WireBody(M.upload_create) body: AcceptedRequest<typeof M.upload_create>,
    @CurrentSite() site: SitePrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<UploadSessionResponse> {
    return this.uploads.create(body, siteActor(site, meta));
  }

  @Get(':id')
  get(
    @WireParams(M.read_upload) { id }: { id: string },
    @CurrentSite() site: SitePrincipal,
  ): Promise<UploadSessionResponse> {
    return this.uploads.get(id, site);
  }

  /**
   * Raw body (`application/octet-stream`, the chunk's sha256 in a header), read only once the service knows
   * the chunk's exact size, which is then the limit. 201 when stored now, 200 when it was already there (so
   * the answer is written here: Nest would send one fixed status).
   */
  @Put(':id/chunks/:index')
  async putChunk(
    @WireParams(M.upload_chunk) params: { id: string; index: string },
    @Req() req: IncomingMessage,
    @Res() res: ServerResponse,
    @CurrentSite() site: SitePrincipal,
  ): Promise<void> {
    const result: UploadChunkResponse = await this.uploads.putChunk(
      params.id,
      chunkOf(req, params.index),
      site,
    );
    res.writeHead(result.created ? 201 : 200, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(result));
  }

  @HttpCode(200)
  @Post(':id/complete')
  complete(
    @WireParams(M.upload_complete) { id }: { id: string },
    @WireBody(M.upload_complete) body: AcceptedRequest<typeof M.upload_complete>,
    @CurrentSite() site: SitePrincipal,
    @ReqMeta() meta: RequestMeta,
  ): Promise<CompleteUploadResponse> {
    return this.intake.complete(id, body.signature, siteActor(site, meta));
  }
}

/** A chunk request's media type and declared hash, checked before anything is read or looked up. */
function chunkOf(req: IncomingMessage, rawIndex: string): IncomingChunk {
  const type = req.headers['content-type'];
  if (type?.split(';')[0].trim().toLowerCase() !== CHUNK_CONTENT_TYPE)
    throw new UnsupportedChunkMediaTypeError(type);
  const declared = req.headers[CHUNK_SHA256_HEADER];
  if (typeof declared !== 'string' || !SHA256_HEX.test(declared))
    throw new ChunkHashMissingError(CHUNK_SHA256_HEADER);
  const index = Number(rawIndex);
  return { index, sha256: declared, read: (expected) => readChunkBody(req, index, expected) };
}
