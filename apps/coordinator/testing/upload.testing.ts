/** Test helpers for tasks and adapter uploads: sites with real Ed25519 keys, real adapter files, the upload flow. */
import { createHash, randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import {
  ADAPTER_UPLOAD_AUDIENCE,
  alignmentStateDictSpec,
  CHUNK_CONTENT_TYPE,
  CHUNK_SHA256_HEADER,
  taskVaeStateDictSpec,
} from '@casam/protocol';
import { writeAdapterFile, createRng, uniformArray, float32Tensor, type StateDict } from '@casam/casam-core';
import { constantDecoderLora } from '@casam/casam-core/testing';
import { AccessTokenService } from '../src/auth/access-token.service';
import type { TestApp } from './test-app';

export const FINGERPRINT_A = 'sha256:' + 'a1'.repeat(32);
export const FINGERPRINT_B = 'sha256:' + 'b2'.repeat(32);

/** The private key type jose hands out and signs with. */
type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

export interface TestSite {
  siteId: string;
  keyId: string;
  /** RFC 7638 thumbprint = the `kid` the site signs with. */
  fingerprint: string;
  privateKey: PrivateKey;
  token: string;
}

/** An approved site with an active Ed25519 key (rows written directly) and an access token for it. */
export async function createTestSite(
  t: Pick<TestApp, 'app' | 'db'>,
  name = `site-${randomBytes(4).toString('hex')}`,
): Promise<TestSite> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk = await exportJWK(publicKey);
  const fingerprint = await calculateJwkThumbprint(jwk, 'sha256');
  const site = await t.db.prisma.site.create({ data: { name, status: 'approved' } });
  const key = await t.db.prisma.siteKey.create({
    data: { siteId: site.id, fingerprint, publicJwk: { kty: 'OKP', crv: 'Ed25519', x: jwk.x! } },
  });
  const { token } = await t.app.get(AccessTokenService).issueSite(site.id, key.id);
  return { siteId: site.id, keyId: key.id, fingerprint, privateKey, token };
}

/** A valid adapter file for `channels` with seeded weights. */
export function makeAdapterFile(opts: {
  taskId: string;
  fingerprint?: string;
  preset?: string;
  channels?: number;
  seed?: number;
  metrics?: Record<string, number>;
  /** A decoder delta (version 2 file): rank, alpha and layers as constantDecoderLora takes them. */
  decoderLora?: Parameters<typeof constantDecoderLora>[1];
}): Buffer {
  const channels = opts.channels ?? 64;
  const rng = createRng(opts.seed ?? 7);
  const dict = (spec: { name: string; shape: number[] }[]): StateDict =>
    new Map(
      spec.map((s) => [
        s.name,
        float32Tensor(
          [...s.shape],
          uniformArray(
            s.shape.reduce((a, b) => a * b, 1),
            0.1,
            rng,
          ),
        ),
      ]),
    );
  const bytes = writeAdapterFile({
    taskId: opts.taskId,
    baseModel: { preset: opts.preset ?? 'casam-tiny', fingerprint: opts.fingerprint ?? FINGERPRINT_A },
    tau: { tau: 1.25, p95: 1.1, p99: 1.4, mean: 0.8, std: 0.2, n: 64, percentile: 97 },
    metrics: opts.metrics ?? { dice: 0.81, iou: 0.7 },
    createdAt: '2026-03-01T10:00:00.000Z',
    align: dict(alignmentStateDictSpec(channels)),
    vae: dict(taskVaeStateDictSpec(channels)),
    ...(opts.decoderLora && {
      decoderLora: constantDecoderLora(channels, { fill: 0.01, ...opts.decoderLora }),
    }),
  });
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The completion signature, with optional changes to claims or header for the bad cases. */
export async function signUpload(
  site: Pick<TestSite, 'fingerprint' | 'privateKey'>,
  claims: { uploadId: string; taskId: string; sha256: string; size: number },
  opts: { audience?: string; kid?: string; extra?: JWTPayload } = {},
): Promise<string> {
  return new SignJWT({ ...claims, ...opts.extra })
    .setProtectedHeader({ alg: 'EdDSA', kid: opts.kid ?? site.fingerprint })
    .setAudience(opts.audience ?? ADAPTER_UPLOAD_AUDIENCE)
    .setIssuedAt()
    .sign(site.privateKey);
}

export interface Api {
  (
    method: string,
    path: string,
    body?: unknown,
    init?: { token?: string; headers?: Record<string, string> },
  ): Promise<{
    status: number;
    body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
    headers: Headers;
  }>;
}

/** POSTs a task proposal, on casam-tiny with FINGERPRINT_A, as the site whose token is `siteToken`; the answer. */
export function proposeTask(
  api: Api,
  siteToken: string,
  task: { name: string; modality: string; targetStructures: string[] },
): ReturnType<Api> {
  return api(
    'POST',
    '/api/v1/tasks',
    { ...task, baseModel: { preset: 'casam-tiny', fingerprint: FINGERPRINT_A } },
    { token: siteToken },
  );
}

/** JSON (or raw bytes, for Buffers) over real HTTP. */
export function apiFor(baseUrl: () => string): Api {
  return async (method, path, body, init = {}) => {
    const headers: Record<string, string> = { ...init.headers };
    if (init.token) headers.authorization = `Bearer ${init.token}`;
    let payload: string | Uint8Array | undefined;
    if (Buffer.isBuffer(body)) {
      headers['content-type'] ??= CHUNK_CONTENT_TYPE;
      payload = new Uint8Array(body);
    } else if (body !== undefined) {
      headers['content-type'] ??= 'application/json';
      payload = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const res = await fetch(baseUrl() + path, { method, headers, body: payload });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
}

/** PUTs chunk `index` of `file` with its correct hash (override the hash to test mismatches). */
export function putChunk(
  api: Api,
  token: string,
  uploadId: string,
  file: Buffer,
  chunkSize: number,
  index: number,
  sha256?: string,
) {
  const chunk = file.subarray(index * chunkSize, Math.min(file.length, (index + 1) * chunkSize));
  return api('PUT', `/api/v1/uploads/${uploadId}/chunks/${index}`, Buffer.from(chunk), {
    token,
    headers: { [CHUNK_SHA256_HEADER]: sha256 ?? sha256Hex(chunk) },
  });
}
