/**
 * Router bundles: what the coordinator publishes and every site verifies and loads. A bundle is an uncompressed
 * POSIX ustar archive (see ustar.ts) holding, in this order:
 *
 *   manifest.json                  the manifest below, UTF-8 JSON, exactly the bytes the JWS signs
 *   manifest.jws                   compact JWS (EdDSA, Ed25519), header {alg, kid, typ: casam-bundle+jws}
 *   adapters/<taskId>.safetensors  one adapter file per task (align.* + vae.* tensors, `casam` metadata;
 *                                  version 2 adds a decoder delta, decoder_lora.* tensors)
 *
 * The archive's sha256 is its content hash (the blob name and the HTTP ETag). Depends on zod only.
 */
import { z } from 'zod';
import type { DecoderLoraSummary } from './adapter-decoder-lora';
import { queryInt } from './wire/wire-fields';

export const BUNDLE_FORMAT = 'casam-router-bundle';
/** `typ` of the bundle JWS header. */
export const BUNDLE_JWS_TYPE = 'casam-bundle+jws';
export const BUNDLE_JWS_ALGORITHM = 'EdDSA';
export const BUNDLE_MANIFEST_PATH = 'manifest.json';
export const BUNDLE_JWS_PATH = 'manifest.jws';
export const BUNDLE_MEDIA_TYPE = 'application/x-tar';
/** Public route of the coordinator's bundle-signing keys. */
export const JWKS_PATH = '/.well-known/jwks.json';
/**
 * Public route of the signing-key endorsements: each bundle-signing key after the first is endorsed by the key
 * that preceded it (a JWS over its public key), so a site that pinned an older key can trust a rotated one
 * without trusting the network.
 */
export const KEY_ENDORSEMENTS_PATH = '/.well-known/casam-key-endorsements.json';
/** `typ` of an endorsement JWS; its payload is a {@link KeyEndorsementClaims}. */
export const KEY_ENDORSEMENT_JWS_TYPE = 'casam-key-endorsement+jws';

/** What an endorsement signs: the endorsed key (kid and public x), by the previous key (the JWS header's kid). */
export interface KeyEndorsementClaims {
  kid: string;
  x: string;
  /** kid of the endorsing key (also the JWS header's kid). */
  endorsedBy: string;
}

/** `GET /.well-known/casam-key-endorsements.json`, oldest first. */
export interface KeyEndorsements {
  endorsements: { kid: string; jws: string }[];
}

/** Where a task's adapter file lies inside the archive. */
export function bundleAdapterPath(taskId: string): string {
  return `adapters/${taskId}.safetensors`;
}

/** The frozen SAM every adapter of the bundle was trained against. */
export interface BundleBaseModel {
  /** `sha256:<hex>` fingerprint of the base model's weights. */
  fingerprint: string;
  /** Preset name (`vit_b`, `casam-tiny`, …). */
  preset: string;
  /** Image-embedding channels (256 for vit_b/l/h). */
  channels: number;
}

/** One task of a bundle: its newest approved adapter version. */
export interface BundleTask {
  taskId: string;
  name: string;
  modality: string;
  targetStructures: string[];
  /** The adapter version's number within its task (1, 2, 3…). */
  adapterVersion: number;
  adapterVersionId: string;
  /** The routing threshold: an image whose VAE score for this task exceeds τ is not routed to it. */
  tau: number;
  /** How τ was calibrated (tau, p95, p99, mean, std, n, percentile), as the site reported it. */
  tauStats: Record<string, number>;
  /** sha256 (hex) and size of the adapter file at `path`. */
  sha256: string;
  size: number;
  path: string;
  /**
   * The adapter file's format version when it is not 1 (2: with a decoder delta). Absent means 1, so the
   * entries of version 1 adapters read as they did before decoder deltas, for every site agent.
   */
  adapterFormatVersion?: number;
  /** A version 2 adapter's decoder delta (rank, alpha, number of layers), as its file declares it. */
  decoderLora?: DecoderLoraSummary;
}

/** The signed description of a bundle. */
export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  /** 1, 2, 3…, never reused; a site only moves forward. */
  bundleVersion: number;
  /** Protocol version of the coordinator that built it. */
  protocolVersion: string;
  /** Null only for a bundle without tasks (every task retired). */
  baseModel: BundleBaseModel | null;
  /** ISO 8601 UTC. */
  createdAt: string;
  /** Sorted by taskId. */
  tasks: BundleTask[];
}

/** `GET /api/v1/bundles` rows: a published bundle without its manifest. */
export interface BundleSummary {
  version: number;
  /** sha256 of the archive; the archive's ETag (quoted). */
  contentHash: string;
  /** Archive size in bytes. */
  size: number;
  protocolVersion: string;
  /** Empty for a bundle without tasks. */
  baseModelFingerprint: string;
  taskCount: number;
  /** `kid` of the key that signed it. */
  kid: string;
  createdAt: string;
}

/** `GET /api/v1/bundles?limit=&before=` */
export const ListBundlesQuerySchema = z.strictObject({
  /** Page size (default 100). */
  limit: queryInt(1, 1000).optional(),
  /** Only versions below this one (the next page after a page ending at `before`). */
  before: queryInt(1, 2_147_483_647).optional(),
});
export type ListBundlesQuery = z.infer<typeof ListBundlesQuerySchema>;

/** `GET /api/v1/bundles` */
export interface BundleListResponse {
  bundles: BundleSummary[];
}

/** `GET /api/v1/bundles/latest` and `GET /api/v1/bundles/:version` */
export interface BundleDetail extends BundleSummary {
  manifest: BundleManifest;
  /** Compact JWS over the manifest (also `manifest.jws` in the archive). */
  jws: string;
}

/** A public Ed25519 signing key as published in the JWKS. */
export interface BundleSigningJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  /** RFC 7638 thumbprint. */
  kid: string;
  alg: typeof BUNDLE_JWS_ALGORITHM;
  use: 'sig';
}

/** `GET /.well-known/jwks.json`: pending, active and retired bundle-signing keys. */
export interface BundleJwks {
  keys: BundleSigningJwk[];
}

export type SigningKeyState = 'pending' | 'active' | 'retired' | 'revoked';

/** `GET /api/v1/signing-keys` rows. */
export interface SigningKeySummary {
  kid: string;
  status: SigningKeyState;
  createdAt: string;
  activatedAt: string | null;
  retiredAt: string | null;
  /** For a pending key: when it becomes active on its own (unless an admin activates it first). */
  activatesAt: string | null;
}

/** `GET /api/v1/signing-keys` */
export interface SigningKeyListResponse {
  keys: SigningKeySummary[];
}

/**
 * `POST /api/v1/signing-keys/rotate`: the first call adds a `pending` key (published, not yet signing); the
 * next call (or the delay) activates it and retires the previous active key.
 */
export interface RotateSigningKeyResponse {
  action: 'created_pending' | 'activated';
  key: SigningKeySummary;
  /** The key retired by an activation. */
  retired: SigningKeySummary | null;
}
