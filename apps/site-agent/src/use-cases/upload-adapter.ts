/**
 * Use case: send a task's trained adapter to the coordinator — only the adapter's weights, τ and aggregate
 * metrics — in chunks, resumable, signed by the site key. `site-agent upload` and the daemon (which resumes
 * unfinished uploads after a restart or a network cut) both call it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type AdapterVerdict,
  adapterVerdict,
  ADAPTER_UPLOAD_AUDIENCE,
  CHUNK_SHA256_HEADER,
  type CompleteUploadResponse,
  type UploadSessionResponse,
  uploadChunkCount,
} from '@casam/protocol';
import { readAdapterFile, writeAdapterFile, writeFileAtomic } from '@casam/casam-core';
import { EXIT, UserError } from '../cli/errors';
import { CoordinatorError, CoordinatorUnreachableError } from '../coordinator/coordinator-client';
import { printable } from '../cli/printable';
import { TaskStore } from '../tasks/local-task';
import type { AgentContext } from './agent-context';
import { enrolledSiteId } from './use-case-errors';

/**
 * The line `upload` prints about the adapter's verdict; refuses (exit 3) an adapter that validated worse than
 * frozen SAM unless forced: the site and the federation would be better off without it.
 */
export function checkUploadVerdict(name: string, verdict: AdapterVerdict, force: boolean): string {
  if (verdict.kind === 'below-frozen' && !force)
    throw new UserError(
      `task ${name}: the adapter validated ${verdict.text}; upload it anyway with --force`,
      EXIT.input,
    );
  return `task ${name}: adapter ${verdict.text}`;
}

/** The verdict of the task's trained adapter against frozen SAM and box-fill, or null before training. */
export function trainedVerdict(ctx: AgentContext, name: string): AdapterVerdict | null {
  const task = new TaskStore(ctx.home).read(name);
  if (!task.training || !existsSync(task.training.adapter)) return null;
  return adapterVerdict(
    readAdapterFile(new Uint8Array(readFileSync(task.training.adapter))).metadata.metrics,
  );
}

/** Uploads a task's trained adapter, resuming an open session for the same bytes. Returns a one-line summary. */
export async function uploadAdapter(
  ctx: AgentContext,
  name: string,
  chunkSize: number,
  log: (l: string) => void,
): Promise<string> {
  const { home, identity, client } = ctx;
  const state = home.readState();
  const siteId = enrolledSiteId(state);
  const store = new TaskStore(home);
  const task = store.read(name);
  if (!task.coordinator)
    throw new UserError(
      `task ${name} has not been proposed; run site-agent propose --task ${name}`,
      EXIT.usage,
    );
  if (!task.training || !existsSync(task.training.adapter))
    throw new UserError(
      `task ${name} has no trained adapter; run site-agent train --task ${name}`,
      EXIT.usage,
    );
  const taskId = task.coordinator.taskId;
  const bytes = adapterForUpload(
    task.training.adapter,
    taskId,
    join(store.dir(name), 'adapter.upload.safetensors'),
  );
  const channels = readAdapterFile(bytes).metadata.channels;
  const sha256 = createHash('sha256').update(bytes).digest('hex');

  try {
    // Resume the open session for these exact bytes, if there is one.
    let session: UploadSessionResponse | null = null;
    if (task.upload && task.upload.sha256 === sha256 && !task.upload.completedAt) {
      try {
        session = await client.json<UploadSessionResponse>(
          'read_upload',
          { path: `/api/v1/uploads/${task.upload.uploadId}` },
          { idempotent: true },
        );
        if (session.status === 'completed') {
          store.update(name, (t) => {
            t.upload = {
              ...t.upload!,
              adapterVersionId: session!.adapterVersionId ?? undefined,
              completedAt: new Date().toISOString(),
            };
          });
          return `already uploaded: adapter version ${session.adapterVersionId}`;
        }
        if (session.status !== 'open') session = null;
      } catch (e) {
        if (!(e instanceof CoordinatorError && e.status === 404)) throw e;
      }
    }
    if (session && session.chunkSize !== chunkSize)
      log(`resuming with the session's chunk size ${session.chunkSize}`);
    if (!session) {
      session = await client.json<UploadSessionResponse>('upload_create', {
        path: '/api/v1/uploads',
        body: { taskId, totalSize: bytes.byteLength, sha256, chunkSize },
      });
      store.update(name, (t) => {
        t.upload = { uploadId: session!.uploadId, sha256 };
      });
      log(`upload ${session.uploadId}: ${bytes.byteLength} bytes in ${session.chunkCount} chunk(s)`);
    } else
      log(
        `resuming upload ${session.uploadId}: ${session.receivedChunks.length}/${session.chunkCount} chunk(s) already there`,
      );

    const cs = session.chunkSize;
    client.egress.registerUpload(session.uploadId, bytes, cs, channels);
    const have = new Set(session.receivedChunks);
    const n = uploadChunkCount(bytes.byteLength, cs);
    let sent = 0;
    const t0 = Date.now();
    for (let i = 0; i < n; i++) {
      if (have.has(i)) continue;
      const chunk = bytes.subarray(i * cs, Math.min((i + 1) * cs, bytes.byteLength));
      await client.send(
        'upload_chunk',
        {
          path: `/api/v1/uploads/${session.uploadId}/chunks/${i}`,
          body: chunk,
          headers: { [CHUNK_SHA256_HEADER]: createHash('sha256').update(chunk).digest('hex') },
        },
        { idempotent: true },
      );
      sent++;
      log(`  chunk ${i + 1}/${n} (${chunk.byteLength} B)`);
    }
    const signature = await identity.signClaims(
      { uploadId: session.uploadId, taskId, sha256, size: bytes.byteLength },
      ADAPTER_UPLOAD_AUDIENCE,
      siteId,
    );
    const done = await client.json<CompleteUploadResponse>('upload_complete', {
      path: `/api/v1/uploads/${session.uploadId}/complete`,
      body: { signature },
    });
    store.update(name, (t) => {
      t.upload = {
        uploadId: session!.uploadId,
        sha256,
        adapterVersionId: done.adapter.id,
        completedAt: new Date().toISOString(),
      };
    });
    const secs = (Date.now() - t0) / 1000;
    return (
      `uploaded ${name}: adapter version ${done.adapter.version} (${done.adapter.id}, ${done.adapter.status}); ` +
      `${sent} chunk(s) sent now, ${n - sent} already there; ${secs.toFixed(1)} s`
    );
  } catch (e) {
    if (e instanceof CoordinatorError) {
      const problems =
        (e.details?.['problems'] as unknown[] | undefined)?.map((p) => `\n  ${printable(p)}`).join('') ?? '';
      throw new UserError(`coordinator refused the upload: ${e.message}${problems}`, EXIT.input);
    }
    if (e instanceof CoordinatorUnreachableError)
      throw new UserError(
        `${e.message}\nthe chunks sent so far are kept; run the same command again to resume`,
        EXIT.backend,
      );
    throw e;
  }
}

/**
 * The adapter bytes to upload: the trained file, re-stamped with the coordinator's task id when it was trained
 * before the task was proposed (same tensors, same τ and metrics; only `taskId` changes).
 */
function adapterForUpload(path: string, taskId: string, stampedPath: string): Uint8Array {
  const bytes = new Uint8Array(readFileSync(path));
  const a = readAdapterFile(bytes);
  if (a.metadata.taskId === taskId) return bytes;
  if (existsSync(stampedPath)) {
    const prev = new Uint8Array(readFileSync(stampedPath));
    const p = readAdapterFile(prev);
    if (p.metadata.taskId === taskId && p.metadata.createdAt === a.metadata.createdAt) return prev;
  }
  const stamped = writeAdapterFile({
    taskId,
    baseModel: a.metadata.baseModel,
    tau: a.metadata.tau,
    metrics: a.metadata.metrics,
    createdAt: a.metadata.createdAt,
    align: a.align,
    vae: a.vae,
  });
  writeFileAtomic(stampedPath, stamped);
  return stamped;
}
