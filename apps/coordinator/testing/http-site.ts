import { createHash, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, type CryptoKey, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { io, type Socket } from 'socket.io-client';
import { writeAdapterFile } from '@casam/casam-core';
import { constantDecoderLora, zeroAdapterStateDicts } from '@casam/casam-core/testing';
import {
  ADAPTER_UPLOAD_AUDIENCE,
  type AdapterTauStats,
  CHUNK_SHA256_HEADER,
  type ClientToServerEvents,
  type CompleteUploadResponse,
  type CreatedEnrollmentToken,
  type EnrollSiteResponse,
  PROTOCOL_VERSION,
  REALTIME_NAMESPACE,
  REALTIME_PATH,
  type ServerToClientEvents,
  SITE_TOKEN_AUDIENCE,
  type TaskSummary,
  type UploadSessionResponse,
} from '@casam/protocol';
import type { CoordinatorProcess } from './coordinator-process';

/**
 * A hospital site speaking plain HTTP and socket.io to a coordinator, as the site agent does, without the
 * agent: an Ed25519 key made with jose, signed assertions, a chunked and signed adapter upload.
 */
export interface HttpSite {
  name: string;
  siteId: string;
  fingerprint: string;
  /** A fresh site access token (assertion exchange); the site must be approved. */
  token(): Promise<string>;
  /** A signed site-token assertion; `o` bends it (issued and expiring in the past) for the bad-actor tests. */
  assertion(o?: { iat?: number; exp?: number }): Promise<string>;
  /**
   * Uploads these exact bytes as an adapter of `taskId` (session, signed chunks, signed completion) and returns
   * the answer of the first step that is refused, or of the completion.
   */
  uploadBytes(taskId: string, bytes: Uint8Array, hooks?: UploadHooks): Promise<UploadAttempt>;
  /** Proposes a CT liver task on base model `preset` (default casam-tiny) with `fingerprint` (default the test's). */
  proposeTask(name: string, preset?: string, fingerprint?: string): Promise<TaskSummary>;
  uploadAdapter(
    taskId: string,
    opts: {
      metrics: Record<string, number>;
      tau?: AdapterTauStats;
      preset?: string;
      channels?: number;
      /** A version 2 adapter with a decoder delta of this rank (every layer the schema allows). */
      decoderLoraRank?: number;
    },
  ): Promise<CompleteUploadResponse>;
  /** A connected site socket (resolves on `connect`). */
  connect(): Promise<Socket<ServerToClientEvents, ClientToServerEvents>>;
}

/** Where a test steps into an upload (kill a replica between two chunks…). */
export interface UploadHooks {
  afterChunk?(index: number, chunkCount: number): Promise<void>;
}

export interface UploadAttempt {
  step: 'create' | 'chunk' | 'complete';
  status: number;
  body: unknown;
}

export const TEST_BASE_MODEL_FINGERPRINT = `sha256:${'ab'.repeat(32)}`;

/** One JSON request with the protocol header (and a bearer token); a non-2xx answer throws with its body. */
export async function json<T>(url: string, method: string, body: unknown, token?: string): Promise<T> {
  const r = await fetch(url, {
    method,
    headers: {
      'x-casam-protocol': PROTOCOL_VERSION,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${url}: ${r.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/**
 * Enrolls a new site with `enrollmentToken` (default: a fresh one from the harness's admin); it stays pending
 * until an admin approves it.
 */
export async function enrollHttpSite(
  coord: Pick<CoordinatorProcess, 'url' | 'admin'>,
  name: string,
  enrollmentToken?: string,
): Promise<HttpSite> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const jwk = await exportJWK(publicKey);
  const fingerprint = await calculateJwkThumbprint(jwk);
  const token =
    enrollmentToken ??
    (await coord.admin<CreatedEnrollmentToken>('POST', '/api/v1/enrollment-tokens', { label: name })).token;
  const e = await json<EnrollSiteResponse>(`${coord.url}/api/v1/sites/enroll`, 'POST', {
    enrollmentToken: token,
    siteName: name,
    agentVersion: '0.1.0',
    publicJwk: { kty: 'OKP', crv: 'Ed25519', x: jwk.x },
  });
  return site(coord.url, name, e.siteId, fingerprint, privateKey);
}

function site(url: string, name: string, siteId: string, fingerprint: string, key: CryptoKey): HttpSite {
  const sign = (
    claims: Record<string, unknown>,
    aud: string,
    iss?: string,
    o: { iat?: number; exp?: number } = {},
  ) => {
    const now = o.iat ?? Math.floor(Date.now() / 1000);
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA', kid: fingerprint })
      .setSubject(siteId)
      .setAudience(aud)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(o.exp ?? now + 120);
    return (iss ? jwt.setIssuer(iss) : jwt).sign(key);
  };
  const self: HttpSite = {
    name,
    siteId,
    fingerprint,
    async token() {
      const assertion = await sign({}, SITE_TOKEN_AUDIENCE, siteId);
      return (await json<{ accessToken: string }>(`${url}/api/v1/auth/site-token`, 'POST', { assertion }))
        .accessToken;
    },
    assertion(o) {
      return sign({}, SITE_TOKEN_AUDIENCE, siteId, o);
    },
    async proposeTask(taskName, preset = 'casam-tiny', fingerprint = TEST_BASE_MODEL_FINGERPRINT) {
      return json<TaskSummary>(
        `${url}/api/v1/tasks`,
        'POST',
        {
          name: taskName,
          modality: 'CT',
          targetStructures: ['liver'],
          baseModel: { preset, fingerprint },
        },
        await self.token(),
      );
    },
    async uploadAdapter(taskId, opts) {
      const bytes = testAdapterFile(
        taskId,
        opts.channels ?? 64,
        opts.preset ?? 'casam-tiny',
        opts.metrics,
        opts.tau,
        opts.decoderLoraRank,
      );
      const r = await self.uploadBytes(taskId, bytes);
      if (r.step !== 'complete' || r.status !== 200)
        throw new Error(`upload ${r.step}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body as CompleteUploadResponse;
    },
    async uploadBytes(taskId, bytes, hooks = {}) {
      const token = await self.token();
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const chunkSize = 64 * 1024;
      const call = async (step: UploadAttempt['step'], path: string, init: RequestInit) => {
        const r = await fetch(`${url}${path}`, {
          ...init,
          headers: {
            'x-casam-protocol': PROTOCOL_VERSION,
            authorization: `Bearer ${token}`,
            ...(init.headers as Record<string, string>),
          },
        });
        const text = await r.text();
        return { step, status: r.status, body: text ? (JSON.parse(text) as unknown) : undefined };
      };
      const created = await call('create', '/api/v1/uploads', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ taskId, totalSize: bytes.byteLength, sha256, chunkSize }),
      });
      if (created.status !== 201 && created.status !== 200) return created;
      const session = created.body as UploadSessionResponse;
      for (let i = 0; i < session.chunkCount; i++) {
        const chunk = bytes.subarray(i * chunkSize, Math.min((i + 1) * chunkSize, bytes.byteLength));
        const put = await call('chunk', `/api/v1/uploads/${session.uploadId}/chunks/${i}`, {
          method: 'PUT',
          headers: {
            'content-type': 'application/octet-stream',
            [CHUNK_SHA256_HEADER]: createHash('sha256').update(chunk).digest('hex'),
          },
          body: chunk,
        });
        if (put.status >= 300) return put;
        await hooks.afterChunk?.(i, session.chunkCount);
      }
      const signature = await sign(
        { uploadId: session.uploadId, taskId, sha256, size: bytes.byteLength },
        ADAPTER_UPLOAD_AUDIENCE,
      );
      return call('complete', `/api/v1/uploads/${session.uploadId}/complete`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ signature }),
      });
    },
    async connect() {
      const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(`${url}${REALTIME_NAMESPACE}`, {
        path: REALTIME_PATH,
        auth: { token: await self.token(), protocolVersion: PROTOCOL_VERSION },
        transports: ['websocket'],
        reconnection: false,
      });
      await new Promise<void>((res, rej) => {
        const timer = setTimeout(() => rej(new Error('site socket did not connect in 10 s')), 10_000);
        socket.once('connect', () => (clearTimeout(timer), res()));
        socket.once('connect_error', (e) => (clearTimeout(timer), rej(e)));
      });
      return socket;
    },
  };
  return self;
}

/** A valid adapter file (zero weights) with the given validation metrics and τ statistics. */
export function testAdapterFile(
  taskId: string,
  channels: number,
  preset: string,
  metrics: Record<string, number>,
  tau: AdapterTauStats = { tau: 1, p95: 0.9, p99: 1.2, mean: 0.5, std: 0.2, n: 100, percentile: 97 },
  decoderLoraRank?: number,
): Uint8Array {
  const { align, vae } = zeroAdapterStateDicts(channels);
  return writeAdapterFile({
    taskId,
    baseModel: { preset, fingerprint: TEST_BASE_MODEL_FINGERPRINT },
    tau,
    metrics,
    align,
    vae,
    ...(decoderLoraRank && { decoderLora: constantDecoderLora(channels, { rank: decoderLoraRank }) }),
  });
}
