import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import {
  type CreateUploadRequest,
  UPLOAD_LIMITS,
  type UploadChunkResponse,
  type UploadSessionResponse,
  uploadChunkCount,
  uploadChunkLength,
} from '@casam/protocol';
import { AuditService, auditActor } from '../audit/audit.service';
import type { Actor } from '../auth/actor';
import type { SitePrincipal } from '../auth/principal';
import type { RequestMeta } from '../auth/request-meta';
import { Clock } from '../common/clock';
import { DomainError } from '../common/domain-error';
import { TaskNotFoundError } from '../tasks/task.errors';
import { TaskRepository, type TaskWithContributors } from '../tasks/task.repository';
import { isVisibleTo } from '../tasks/tasks.service';
import {
  ChunkConflictError,
  ChunkHashMismatchError,
  ChunkIndexOutOfRangeError,
  InvalidChunkSizeError,
  NotAContributorError,
  TaskNotApprovedError,
  TooManyOpenUploadsError,
  UploadExpiredError,
  UploadNotFoundError,
  UploadNotOpenError,
  UploadTooLargeError,
} from './adapter.errors';
import { toUploadSessionResponse } from './adapter-view';
import { UploadBlobs } from './upload-blobs';
import { type UploadSessionWithChunks, UploadSessionRepository } from './upload-session.repository';

export type SiteActor = Actor & { type: 'site'; id: string };

export const siteActor = (site: SitePrincipal, meta: RequestMeta): SiteActor => ({
  type: 'site',
  id: site.siteId,
  meta,
});

/** One chunk as the controller hands it over: its index, the sha256 the site declared, a reader for its bytes. */
export interface IncomingChunk {
  index: number;
  sha256: string;
  /** Reads the body, which must be exactly `expected` bytes (refused early when longer). */
  read(expected: number): Promise<Buffer>;
}

/**
 * Upload sessions: opening one (within UPLOAD_LIMITS, for a task this site may upload to), receiving chunks
 * (idempotent, any order, resumable after a restart of either side: every finished chunk is a blob plus a
 * row) and expiring the ones not completed in time. Completion is the adapter intake's
 * (adapter-intake.service.ts).
 */
@Injectable()
export class UploadSessionsService {
  constructor(
    private readonly sessions: UploadSessionRepository,
    private readonly tasks: TaskRepository,
    private readonly blobs: UploadBlobs,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  async create(input: CreateUploadRequest, by: SiteActor): Promise<UploadSessionResponse> {
    const now = this.clock.now();
    const base = { ...auditActor(by), action: 'adapter.upload_started', targetType: 'upload', siteId: by.id };
    try {
      if (input.totalSize > UPLOAD_LIMITS.maxTotalBytes)
        throw new UploadTooLargeError(input.totalSize, UPLOAD_LIMITS.maxTotalBytes);
      if (input.chunkSize < UPLOAD_LIMITS.minChunkBytes || input.chunkSize > UPLOAD_LIMITS.maxChunkBytes)
        throw new InvalidChunkSizeError(
          input.chunkSize,
          UPLOAD_LIMITS.minChunkBytes,
          UPLOAD_LIMITS.maxChunkBytes,
        );
      await this.uploadableTask(input.taskId, by.id);
      if ((await this.sessions.countOpen(by.id, now)) >= UPLOAD_LIMITS.maxOpenUploadsPerSite)
        throw new TooManyOpenUploadsError(UPLOAD_LIMITS.maxOpenUploadsPerSite);
      const session = await this.sessions.create({
        siteId: by.id,
        taskId: input.taskId,
        totalSize: input.totalSize,
        sha256: input.sha256,
        chunkSize: input.chunkSize,
        chunkCount: uploadChunkCount(input.totalSize, input.chunkSize),
        expiresAt: new Date(now.getTime() + UPLOAD_LIMITS.sessionTtlSeconds * 1000),
      });
      await this.audit.record({
        ...base,
        targetId: session.id,
        details: { taskId: input.taskId, totalSize: input.totalSize, sha256: input.sha256 },
        createdAt: now,
      });
      return toUploadSessionResponse(session);
    } catch (e) {
      if (e instanceof DomainError)
        await this.audit.record({
          ...base,
          targetId: null,
          outcome: 'denied',
          details: { taskId: input.taskId, error: e.code, message: e.message },
          createdAt: now,
        });
      throw e;
    }
  }

  async get(id: string, site: SitePrincipal): Promise<UploadSessionResponse> {
    return toUploadSessionResponse(await this.ownSession(id, site.siteId));
  }

  /** Stores one chunk: idempotent for the same bytes, refused for different bytes at a finished index. */
  async putChunk(id: string, chunk: IncomingChunk, site: SitePrincipal): Promise<UploadChunkResponse> {
    const { index } = chunk;
    const session = await this.openSession(id, site.siteId);
    if (index >= session.chunkCount) throw new ChunkIndexOutOfRangeError(index, session.chunkCount);
    const bytes = await chunk.read(uploadChunkLength(Number(session.totalSize), session.chunkSize, index));
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== chunk.sha256) throw new ChunkHashMismatchError(index, chunk.sha256, actual);

    const response = (created: boolean, receivedCount: number): UploadChunkResponse => ({
      uploadId: id,
      index,
      size: bytes.length,
      sha256: actual,
      created,
      receivedCount,
    });
    const existing = session.chunks.find((c) => c.index === index);
    if (existing) {
      if (existing.sha256 !== actual) throw new ChunkConflictError(index);
      return response(false, session.chunks.length);
    }
    if (!(await this.blobs.storeChunk(id, index, bytes, actual))) {
      // A concurrent request recorded this index first.
      const winner = await this.sessions.findChunk(id, index);
      if (winner?.sha256 !== actual) throw new ChunkConflictError(index);
      return response(false, await this.sessions.countChunks(id));
    }
    return response(true, await this.sessions.countChunks(id));
  }

  /** Marks open uploads whose time ran out as expired and deletes their chunks. Returns how many expired. */
  async sweepExpired(limit = 100): Promise<number> {
    const now = this.clock.now();
    let expired = 0;
    for (const s of await this.sessions.listExpired(now, limit)) {
      const released = await this.sessions.close(
        s.id,
        'expired',
        `not completed by ${s.expiresAt.toISOString()}`,
      );
      if (released === null) continue;
      expired++;
      await this.blobs.release(released);
      await this.audit.record({
        actorType: 'system',
        action: 'adapter.upload_expired',
        targetType: 'upload',
        targetId: s.id,
        siteId: s.siteId,
        address: null,
        correlationId: null,
        details: { taskId: s.taskId, releasedChunks: released.length },
        createdAt: now,
      });
    }
    await this.blobs.release(await this.sessions.releaseLeftoverChunks());
    return expired;
  }

  /** The task if this site may upload adapters for it now. */
  async uploadableTask(taskId: string, siteId: string): Promise<TaskWithContributors> {
    const task = await this.tasks.findById(taskId);
    if (!task || !isVisibleTo(task, siteId)) throw new TaskNotFoundError(taskId);
    if (task.status !== 'approved') throw new TaskNotApprovedError(taskId, task.status);
    if (task.proposedBySiteId !== siteId && !task.contributors.some((c) => c.siteId === siteId))
      throw new NotAContributorError(taskId);
    return task;
  }

  /** This site's upload `id`, in any state. */
  async ownSession(id: string, siteId: string): Promise<UploadSessionWithChunks> {
    const s = await this.sessions.findById(id);
    if (!s || s.siteId !== siteId) throw new UploadNotFoundError(id);
    return s;
  }

  /** This site's upload `id`, still open and not expired. */
  async openSession(
    id: string,
    siteId: string,
    known?: UploadSessionWithChunks,
  ): Promise<UploadSessionWithChunks> {
    const s = known ?? (await this.ownSession(id, siteId));
    if (s.status !== 'open') throw new UploadNotOpenError(id, s.status, s.statusReason);
    if (s.expiresAt <= this.clock.now()) throw new UploadExpiredError(id, s.expiresAt);
    return s;
  }

  /** Closes an open upload as aborted (why: `reason`) and deletes its chunks. */
  async abort(session: UploadSessionWithChunks, reason: string): Promise<void> {
    const released = await this.sessions.close(session.id, 'aborted', reason);
    if (released) await this.blobs.release(released);
  }
}

/** Indexes of the chunks an upload still lacks, ascending. */
export function missingChunks(s: UploadSessionWithChunks): number[] {
  const have = new Set(s.chunks.map((c) => c.index));
  const missing: number[] = [];
  for (let i = 0; i < s.chunkCount; i++) if (!have.has(i)) missing.push(i);
  return missing;
}
