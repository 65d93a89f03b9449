import { Injectable } from '@nestjs/common';
import type { Prisma } from '@prisma/client';
import type { CompleteUploadResponse } from '@casam/protocol';
import { AuditService, auditActor } from '../audit/audit.service';
import { Clock } from '../common/clock';
import { DomainError } from '../common/domain-error';
import { CoordinatorEvents } from '../events/coordinator-events';
import { SiteKeyRepository } from '../sites/site-key.repository';
import type { TaskWithContributors } from '../tasks/task.repository';
import {
  AdapterInvalidError,
  UploadIncompleteError,
  UploadNotOpenError,
  UploadSignatureInvalidError,
} from './adapter.errors';
import { adapterContentProblems } from './adapter-content';
import { AdapterVersionRepository } from './adapter-version.repository';
import { toAdapterVersionSummary, toUploadSessionResponse } from './adapter-view';
import { UploadBlobs } from './upload-blobs';
import { type UploadSessionWithChunks, UploadSessionRepository } from './upload-session.repository';
import { missingChunks, type SiteActor, UploadSessionsService } from './upload-sessions.service';
import { uploadSignatureKeyId, uploadSignatureProblems } from './upload-signature';

/** At most this many problems go into an error body and an audit event. */
const MAX_REPORTED_PROBLEMS = 100;

/** A site key that may sign an upload now. */
interface SigningKey {
  id: string;
  fingerprint: string;
  publicJwk: Record<string, unknown>;
}

/**
 * Takes a finished upload in as an adapter version. The site's signature is checked first: a bad one is
 * refused (422 upload_signature_invalid) and the upload stays open, so a site that signed wrongly can sign
 * again. Then the chunks are assembled and checked against the task's exact schema; any problem with the
 * content aborts the upload (422 adapter_invalid, every problem listed) and deletes its chunks, so nothing
 * that failed the check is kept. A good file becomes a `pending` adapter version for an admin to decide.
 */
@Injectable()
export class AdapterIntakeService {
  constructor(
    private readonly uploads: UploadSessionsService,
    private readonly sessions: UploadSessionRepository,
    private readonly versions: AdapterVersionRepository,
    private readonly siteKeys: SiteKeyRepository,
    private readonly blobs: UploadBlobs,
    private readonly audit: AuditService,
    private readonly events: CoordinatorEvents,
    private readonly clock: Clock,
  ) {}

  async complete(id: string, signature: string, by: SiteActor): Promise<CompleteUploadResponse> {
    const now = this.clock.now();
    const base = {
      ...auditActor(by),
      action: 'adapter.uploaded',
      targetType: 'upload',
      targetId: id,
      siteId: by.id,
    };
    const denied = (e: DomainError, extra: Prisma.InputJsonObject = {}) =>
      this.audit.record({
        ...base,
        outcome: 'denied',
        details: { error: e.code, message: e.message.slice(0, 2000), ...extra },
        createdAt: this.clock.now(),
      });

    let session: UploadSessionWithChunks;
    try {
      session = await this.uploads.ownSession(id, by.id);
      if (session.status === 'completed' && session.adapterVersion)
        return await this.completedResult(id, session.adapterVersion.id);
      session = await this.uploads.openSession(id, by.id, session);
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
    const signingKey = key as SigningKey;

    // The task must still take adapters from this site.
    let task: TaskWithContributors;
    try {
      task = await this.uploads.uploadableTask(taskId, by.id);
    } catch (e) {
      if (e instanceof DomainError) {
        await this.uploads.abort(session, `${e.code}: ${e.message}`);
        await denied(e);
      }
      throw e;
    }

    // Assemble and check the content.
    const file = await this.blobs.assemble(session);
    if ('missing' in file) {
      const e = new UploadIncompleteError(file.missing);
      await denied(e);
      throw e;
    }
    const content = adapterContentProblems(file.bytes, session, task);
    if (content.problems.length) {
      const reported = content.problems.slice(0, MAX_REPORTED_PROBLEMS);
      await this.uploads.abort(session, `adapter_invalid: ${reported[0]}`);
      const e = new AdapterInvalidError(reported);
      await this.audit.record({
        ...base,
        action: 'adapter.upload_rejected',
        outcome: 'denied',
        details: { error: e.code, taskId, sha256: session.sha256, problems: reported },
        createdAt: this.clock.now(),
      });
      throw e;
    }
    const metadata = content.metadata!;

    await this.blobs.storeFile(file.bytes, session.sha256);
    const done = await this.sessions.complete(
      id,
      {
        taskId,
        siteId: by.id,
        adapterBlobHash: session.sha256,
        sizeBytes: file.bytes.length,
        tauStats: { ...metadata.tau },
        metrics: { ...metadata.metrics },
        formatVersion: metadata.version,
        ...(metadata.decoderLora && {
          decoderLora: {
            rank: metadata.decoderLora.rank,
            alpha: metadata.decoderLora.alpha,
            layers: [...metadata.decoderLora.layers],
          },
        }),
        baseModelFingerprint: metadata.baseModel.fingerprint,
        signedByKeyId: signingKey.id,
        signature,
      },
      this.clock.now(),
    );
    if (!done) {
      // Completed (or aborted) concurrently: answer like a repeated request would.
      const now2 = await this.uploads.ownSession(id, by.id);
      if (now2.status === 'completed' && now2.adapterVersion)
        return this.completedResult(id, now2.adapterVersion.id);
      throw new UploadNotOpenError(id, now2.status, now2.statusReason);
    }
    await this.blobs.release(done.releasedChunks);
    await this.events.emit({
      type: 'adapter.uploaded',
      adapterVersionId: done.adapterVersionId,
      taskId,
      siteId: by.id,
    });
    const result = await this.completedResult(id, done.adapterVersionId);
    await this.audit.record({
      ...base,
      targetType: 'adapter_version',
      targetId: done.adapterVersionId,
      details: {
        uploadId: id,
        taskId,
        version: result.adapter.version,
        kind: result.adapter.kind,
        sha256: session.sha256,
        sizeBytes: file.bytes.length,
        signedByKeyFingerprint: signingKey.fingerprint,
      },
      createdAt: this.clock.now(),
    });
    return result;
  }

  /** The site key a completion signature names, if it belongs to this site and is usable now. */
  private async signingKey(
    jws: string,
    siteId: string,
    now: Date,
  ): Promise<SigningKey | { problems: string[] }> {
    const header = uploadSignatureKeyId(jws);
    if ('problems' in header) return header;
    const key = await this.siteKeys.findByFingerprint(header.kid);
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

  private async completedResult(uploadId: string, adapterVersionId: string): Promise<CompleteUploadResponse> {
    const [session, version] = await Promise.all([
      this.sessions.findById(uploadId),
      this.versions.findById(adapterVersionId),
    ]);
    return { upload: toUploadSessionResponse(session!), adapter: toAdapterVersionSummary(version!) };
  }
}
