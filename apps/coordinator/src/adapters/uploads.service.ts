import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Injectable, Logger } from '@nestjs/common';
import type { Prisma } from '@prisma/client';
import {
  AdapterValidationError,
  CHUNK_CONTENT_TYPE,
  CHUNK_SHA256_HEADER,
  type CompleteUploadResponse,
  type CreateUploadRequest,
  UPLOAD_LIMITS,
  type UploadChunkResponse,
  type UploadSessionResponse,
  uploadChunkCount,
  uploadChunkLength,
  validateAdapterFile,
  adapterTauProblems,
} from '@casam/protocol';
import { AuditEventRepository } from '../audit/audit-event.repository';
import type { Actor } from '../auth/actor';
import type { SitePrincipal } from '../auth/principal';
import type { RequestMeta } from '../auth/request-meta';
import { BlobNotFoundError } from '../blobs/blob.errors';
import { BlobInUseError, BlobRepository } from '../blobs/blob.repository';
import { BlobStore } from '../blobs/blob-store';
import { Clock } from '../common/clock';
import { DomainError } from '../common/domain-error';
import { Database } from '../database/database';
import { isForeignKeyViolation } from '../database/prisma-errors';
import { CoordinatorEvents } from '../events/coordinator-events';
import { TaskNotFoundError } from '../tasks/task.errors';
import { TaskRepository, type TaskWithContributors } from '../tasks/task.repository';
import { isVisibleTo } from '../tasks/tasks.service';
import {
  AdapterInvalidError,
  ChunkConflictError,
  ChunkHashMismatchError,
  ChunkHashMissingError,
  ChunkIndexOutOfRangeError,
  InvalidChunkSizeError,
  NotAContributorError,
  TaskNotApprovedError,
  TooManyOpenUploadsError,
  UnsupportedChunkMediaTypeError,
  UploadExpiredError,
  UploadIncompleteError,
  UploadNotFoundError,
  UploadNotOpenError,
  UploadSignatureInvalidError,
  UploadTooLargeError,
} from './adapter.errors';
import { AdapterVersionRepository } from './adapter-version.repository';
import { toAdapterVersionSummary, toUploadSessionResponse } from './adapter-view';
import { readChunkBody } from './chunk-body';
import { type UploadSessionWithChunks, UploadSessionRepository } from './upload-session.repository';
import { uploadSignatureKeyId, uploadSignatureProblems } from './upload-signature';

const SHA256_HEX = /^[0-9a-f]{64}$/;
/** Tries to store a chunk whose shared blob other uploads keep releasing (see `storeChunk`). */
const CHUNK_STORE_ATTEMPTS = 3;
/** At most this many problems go into an error body and an audit event. */
const MAX_REPORTED_PROBLEMS = 100;

type SiteActor = Actor & { type: 'site'; id: string };

export const siteActor = (site: SitePrincipal, meta: RequestMeta): SiteActor => ({
  type: 'site',
  id: site.siteId,
  meta,
});

/**
 * Chunked, resumable adapter uploads. Every finished chunk is a blob plus a row, so a restart of either side
 * loses none; completion checks the site's signature, assembles, validates against the task's exact schema and
 * either creates a `pending` adapter version or aborts the upload and deletes its chunks (stored nowhere).
 */
@Injectable()
export class UploadsService {
  private readonly logger = new Logger('Uploads');

  constructor(
    private readonly sessions: UploadSessionRepository,
    private readonly versions: AdapterVersionRepository,
    private readonly tasks: TaskRepository,
    private readonly blobs: BlobRepository,
    private readonly store: BlobStore,
    private readonly db: Database,
    private readonly audit: AuditEventRepository,
    private readonly events: CoordinatorEvents,
    private readonly clock: Clock,
  ) {}

  async create(input: CreateUploadRequest, by: SiteActor): Promise<UploadSessionResponse> {
    const now = this.clock.now();
    const base = this.auditBase(by, 'adapter.upload_started', null);
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
      await this.audit.append({
        ...base,
        targetId: session.id,
        details: { taskId: input.taskId, totalSize: input.totalSize, sha256: input.sha256 },
        createdAt: now,
      });
      return toUploadSessionResponse(session);
    } catch (e) {
      if (e instanceof DomainError)
        await this.audit.append({
          ...base,
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
  async putChunk(
    id: string,
    index: number,
    req: IncomingMessage,
    site: SitePrincipal,
  ): Promise<UploadChunkResponse> {
    const type = req.headers['content-type'];
    if (type?.split(';')[0].trim().toLowerCase() !== CHUNK_CONTENT_TYPE)
      throw new UnsupportedChunkMediaTypeError(type);
    const declared = req.headers[CHUNK_SHA256_HEADER];
    if (typeof declared !== 'string' || !SHA256_HEX.test(declared))
      throw new ChunkHashMissingError(CHUNK_SHA256_HEADER);
    const session = await this.openSession(id, site.siteId);
    if (index >= session.chunkCount) throw new ChunkIndexOutOfRangeError(index, session.chunkCount);
    const expected = uploadChunkLength(Number(session.totalSize), session.chunkSize, index);
    const bytes = await readChunkBody(req, index, expected);
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== declared) throw new ChunkHashMismatchError(index, declared, actual);

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
    if (!(await this.storeChunk(id, index, bytes, actual))) {
      // A concurrent request recorded this index first.
      const winner = await this.sessions.findChunk(id, index);
      if (winner?.sha256 !== actual) throw new ChunkConflictError(index);
      return response(false, await this.sessions.countChunks(id));
    }
    return response(true, await this.sessions.countChunks(id));
  }

  /**
   * Completes an upload. The signature is checked first: a bad one is refused (422 upload_signature_invalid)
   * and the upload stays open, so a site that signed wrongly can sign again. Then the chunks are assembled and
   * checked; any problem with the content aborts the upload (422 adapter_invalid, every problem listed) and
   * deletes its chunks.
   */
  async complete(id: string, signature: string, by: SiteActor): Promise<CompleteUploadResponse> {
    const now = this.clock.now();
    const base = this.auditBase(by, 'adapter.uploaded', id);
    const denied = (e: DomainError, extra: Prisma.InputJsonObject = {}) =>
      this.audit.append({
        ...base,
        outcome: 'denied',
        details: { error: e.code, message: e.message.slice(0, 2000), ...extra },
        createdAt: this.clock.now(),
      });

    let session: UploadSessionWithChunks;
    try {
      session = await this.ownSession(id, by.id);
      if (session.status === 'completed' && session.adapterVersion)
        return await this.completedResult(id, session.adapterVersion.id);
      session = await this.openSession(id, by.id, session);
      const missing = missingChunks(session);
      if (missing.length) throw new UploadIncompleteError(missing);
    } catch (e) {
      if (e instanceof DomainError) await denied(e);
      throw e;
    }
    const taskId = session.taskId!;

    // Who signed: a key of this site, usable now, over exactly this upload.
    const key = await this.signingKey(signature, by.id, now);
    const problems =
      'problems' in key
        ? key.problems
        : await uploadSignatureProblems(
            signature,
            key.publicJwk,
            { uploadId: id, taskId, sha256: session.sha256, size: Number(session.totalSize) },
            now,
          );
    if (problems.length) {
      const e = new UploadSignatureInvalidError(problems);
      await denied(e, { problems });
      throw e;
    }
    const signingKey = key as Exclude<typeof key, { problems: string[] }>;

    // The task must still take adapters from this site.
    let task: TaskWithContributors;
    try {
      task = await this.uploadableTask(taskId, by.id);
    } catch (e) {
      if (e instanceof DomainError) {
        await this.abort(session, `${e.code}: ${e.message}`);
        await denied(e);
      }
      throw e;
    }

    // Assemble and check the content.
    const file = await this.assemble(session);
    if ('missing' in file) {
      const e = new UploadIncompleteError(file.missing);
      await denied(e);
      throw e;
    }
    const contentProblems = this.contentProblems(file.bytes, session, task);
    if (contentProblems.problems.length) {
      const reported = contentProblems.problems.slice(0, MAX_REPORTED_PROBLEMS);
      await this.abort(session, `adapter_invalid: ${reported[0]}`);
      const e = new AdapterInvalidError(reported);
      await this.audit.append({
        ...base,
        action: 'adapter.upload_rejected',
        outcome: 'denied',
        details: { error: e.code, taskId, sha256: session.sha256, problems: reported },
        createdAt: this.clock.now(),
      });
      throw e;
    }
    const metadata = contentProblems.metadata!;

    await this.storeBlob(file.bytes, session.sha256);
    const done = await this.sessions.complete(
      id,
      {
        taskId,
        siteId: by.id,
        adapterBlobHash: session.sha256,
        sizeBytes: file.bytes.length,
        tauStats: { ...metadata.tau },
        metrics: { ...metadata.metrics },
        baseModelFingerprint: metadata.baseModel.fingerprint,
        signedByKeyId: signingKey.id,
        signature,
      },
      this.clock.now(),
    );
    if (!done) {
      // Completed (or aborted) concurrently: answer like a repeated request would.
      const now2 = await this.ownSession(id, by.id);
      if (now2.status === 'completed' && now2.adapterVersion)
        return this.completedResult(id, now2.adapterVersion.id);
      throw new UploadNotOpenError(id, now2.status, now2.statusReason);
    }
    await this.releaseBlobs(done.releasedChunks);
    await this.events.emit({
      type: 'adapter.uploaded',
      adapterVersionId: done.adapterVersionId,
      taskId,
      siteId: by.id,
    });
    const result = await this.completedResult(id, done.adapterVersionId);
    await this.audit.append({
      ...base,
      targetType: 'adapter_version',
      targetId: done.adapterVersionId,
      details: {
        uploadId: id,
        taskId,
        version: result.adapter.version,
        sha256: session.sha256,
        sizeBytes: file.bytes.length,
        signedByKeyFingerprint: signingKey.fingerprint,
      },
      createdAt: this.clock.now(),
    });
    return result;
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
      await this.releaseBlobs(released);
      await this.audit.append({
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
    await this.releaseBlobs(await this.sessions.releaseLeftoverChunks());
    return expired;
  }

  // ------------------------------------------------------------------------------------------------------

  /** The task if this site may upload adapters for it now. */
  private async uploadableTask(taskId: string, siteId: string): Promise<TaskWithContributors> {
    const task = await this.tasks.findById(taskId);
    if (!task || !isVisibleTo(task, siteId)) throw new TaskNotFoundError(taskId);
    if (task.status !== 'approved') throw new TaskNotApprovedError(taskId, task.status);
    if (task.proposedBySiteId !== siteId && !task.contributors.some((c) => c.siteId === siteId))
      throw new NotAContributorError(taskId);
    return task;
  }

  private async ownSession(id: string, siteId: string): Promise<UploadSessionWithChunks> {
    const s = await this.sessions.findById(id);
    if (!s || s.siteId !== siteId) throw new UploadNotFoundError(id);
    return s;
  }

  private async openSession(
    id: string,
    siteId: string,
    known?: UploadSessionWithChunks,
  ): Promise<UploadSessionWithChunks> {
    const s = known ?? (await this.ownSession(id, siteId));
    if (s.status !== 'open') throw new UploadNotOpenError(id, s.status, s.statusReason);
    if (s.expiresAt <= this.clock.now()) throw new UploadExpiredError(id, s.expiresAt);
    return s;
  }

  /** The site key a completion signature names, if it belongs to this site and is usable now. */
  private async signingKey(
    jws: string,
    siteId: string,
    now: Date,
  ): Promise<
    { id: string; fingerprint: string; publicJwk: Record<string, unknown> } | { problems: string[] }
  > {
    const header = uploadSignatureKeyId(jws);
    if ('problems' in header) return header;
    const key = await this.db.prisma.siteKey.findUnique({ where: { fingerprint: header.kid } });
    if (!key || key.siteId !== siteId)
      return { problems: [`kid ${header.kid.slice(0, 100)} names no key of this site`] };
    const usable =
      key.status === 'active' || (key.status === 'rotated' && key.notAfter !== null && key.notAfter > now);
    if (!usable)
      return {
        problems: [`site key ${key.fingerprint} is ${key.status === 'rotated' ? 'rotated out' : key.status}`],
      };
    return { id: key.id, fingerprint: key.fingerprint, publicJwk: key.publicJwk as Record<string, unknown> };
  }

  /** The chunks in order, concatenated; chunks whose bytes are gone are forgotten so the site resends them. */
  private async assemble(
    session: UploadSessionWithChunks,
  ): Promise<{ bytes: Buffer } | { missing: number[] }> {
    const parts: Buffer[] = [];
    const gone: number[] = [];
    for (const c of session.chunks) {
      try {
        parts.push(await this.store.get(c.sha256));
      } catch (e) {
        if (!(e instanceof BlobNotFoundError)) throw e;
        gone.push(c.index);
      }
    }
    if (gone.length) {
      this.logger.warn(
        `upload ${session.id}: bytes of chunk(s) ${gone.join(', ')} are gone; asking for them again`,
      );
      await this.sessions.dropChunks(session.id, gone);
      return { missing: gone };
    }
    return { bytes: Buffer.concat(parts) };
  }

  /** Every reason the assembled bytes are not the adapter this upload promised for this task. */
  private contentProblems(
    bytes: Buffer,
    session: UploadSessionWithChunks,
    task: TaskWithContributors,
  ): { problems: string[]; metadata?: ReturnType<typeof validateAdapterFile>['metadata'] } {
    const problems: string[] = [];
    if (bytes.length !== Number(session.totalSize))
      problems.push(`assembled file is ${bytes.length} bytes, not the declared ${session.totalSize}`);
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== session.sha256)
      problems.push(`assembled file hashes to ${actual}, not the declared ${session.sha256}`);
    let metadata: ReturnType<typeof validateAdapterFile>['metadata'] | undefined;
    try {
      metadata = validateAdapterFile(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), {
        channels: task.embeddingChannels,
      }).metadata;
    } catch (e) {
      if (!(e instanceof AdapterValidationError)) throw e;
      problems.push(...e.problems);
    }
    if (metadata) {
      // τ is bounded by the adapter's own calibration statistics: an inflated one would capture all routing
      problems.push(...adapterTauProblems(metadata.tau));
      if (metadata.taskId !== task.id)
        problems.push(`metadata taskId ${JSON.stringify(metadata.taskId)} is not this task's ${task.id}`);
      if (metadata.baseModel.fingerprint !== task.baseModelFingerprint)
        problems.push(
          `metadata baseModel.fingerprint ${metadata.baseModel.fingerprint} is not the task's ${task.baseModelFingerprint}`,
        );
      if (metadata.baseModel.preset !== task.baseModelPreset)
        problems.push(
          `metadata baseModel.preset ${JSON.stringify(metadata.baseModel.preset)} is not the task's ${task.baseModelPreset}`,
        );
    }
    return { problems, metadata };
  }

  private async abort(session: UploadSessionWithChunks, reason: string): Promise<void> {
    const released = await this.sessions.close(session.id, 'aborted', reason);
    if (released) await this.releaseBlobs(released);
  }

  /**
   * Stores a chunk's bytes and records the chunk; false when a concurrent request recorded this index first.
   * Identical chunks of two uploads share one blob: when the other upload finishes (or is aborted) between our
   * store and our row, on this replica or another, it may release the blob as unreferenced, and the row's
   * foreign key refuses. Then the bytes are stored again, at most {@link CHUNK_STORE_ATTEMPTS} times.
   */
  private async storeChunk(id: string, index: number, bytes: Buffer, sha256: string): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      await this.storeBlob(bytes, sha256);
      try {
        return await this.sessions.addChunk({ sessionId: id, index, size: bytes.length, sha256 });
      } catch (e) {
        if (!isForeignKeyViolation(e) || attempt >= CHUNK_STORE_ATTEMPTS) throw e;
        this.logger.warn(`upload ${id}: the blob of chunk ${index} was released meanwhile; storing it again`);
      }
    }
  }

  private async storeBlob(bytes: Buffer, sha256: string): Promise<void> {
    const put = await this.store.put(bytes, { expectedHash: sha256 });
    await this.blobs.record({
      hash: put.hash,
      size: put.size,
      store: this.store.driver,
      mediaType: 'application/octet-stream',
    });
  }

  /** Unregisters and deletes blobs nothing references any more (a chunk shared with another upload stays). */
  private async releaseBlobs(hashes: readonly string[]): Promise<void> {
    for (const hash of hashes) {
      try {
        if (await this.blobs.delete(hash)) await this.store.delete(hash);
      } catch (e) {
        if (!(e instanceof BlobInUseError)) throw e;
      }
    }
  }

  private async completedResult(uploadId: string, adapterVersionId: string): Promise<CompleteUploadResponse> {
    const [session, version] = await Promise.all([
      this.sessions.findById(uploadId),
      this.versions.findById(adapterVersionId),
    ]);
    return { upload: toUploadSessionResponse(session!), adapter: toAdapterVersionSummary(version!) };
  }

  private auditBase(by: SiteActor, action: string, uploadId: string | null) {
    return {
      actorType: 'site' as const,
      actorId: by.id,
      action,
      targetType: 'upload',
      targetId: uploadId,
      siteId: by.id,
      address: by.meta.address,
      correlationId: by.meta.correlationId,
    };
  }
}

function missingChunks(s: UploadSessionWithChunks): number[] {
  const have = new Set(s.chunks.map((c) => c.index));
  const missing: number[] = [];
  for (let i = 0; i < s.chunkCount; i++) if (!have.has(i)) missing.push(i);
  return missing;
}
