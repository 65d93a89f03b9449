import type { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import {
  BUNDLE_MEDIA_TYPE,
  type BundleDetail,
  type BundleManifest,
  type BundleSummary,
} from '@casam/protocol';
import { BlobStore } from '../blobs/blob-store';
import { DomainError, NotFoundError } from '../common/domain-error';
import { contentRange, ifNoneMatchHits, ifRangeAllows, parseRange, strongEtag } from '../common/http-range';
import { type BundleRecord, BundleRepository } from './bundle.repository';

export class BundleNotFoundError extends NotFoundError {
  constructor(version?: number) {
    super(
      'bundle_not_found',
      version === undefined
        ? 'no router bundle has been published yet'
        : `no router bundle version ${version}`,
    );
  }
}

export class RangeNotSatisfiableError extends DomainError {
  constructor(size: number) {
    super('range_not_satisfiable', `the requested range lies outside the archive's ${size} bytes`, 416, {
      size,
    });
  }
}

/** The request headers an archive download honours. */
export interface ArchiveConditions {
  range?: string;
  ifNoneMatch?: string;
  ifRange?: string;
}

export type ArchiveAnswer =
  | { status: 200 | 206; headers: Record<string, string>; body: Readable }
  | { status: 304; headers: Record<string, string> }
  | { status: 416; headers: Record<string, string>; error: RangeNotSatisfiableError };

/** Reading published bundles: history, manifests, and the archive with ETag and byte ranges. */
@Injectable()
export class BundlesService {
  constructor(
    private readonly repo: BundleRepository,
    private readonly blobStore: BlobStore,
  ) {}

  async list(page: { limit: number; before?: number }): Promise<BundleSummary[]> {
    return (await this.repo.list(page)).map(summaryOf);
  }

  async latest(): Promise<BundleDetail> {
    const b = await this.repo.latest();
    if (!b) throw new BundleNotFoundError();
    return detailOf(b);
  }

  async get(version: number): Promise<BundleDetail> {
    return detailOf(await this.find(version));
  }

  async archive(version: number, conditions: ArchiveConditions): Promise<ArchiveAnswer> {
    const b = await this.find(version);
    const etag = strongEtag(b.contentHash);
    const common = {
      ETag: etag,
      'Accept-Ranges': 'bytes',
      // A version's bytes never change; only authenticated callers may keep them.
      'Cache-Control': 'private, max-age=31536000, immutable',
    };
    if (ifNoneMatchHits(conditions.ifNoneMatch, etag)) return { status: 304, headers: common };
    const decision = ifRangeAllows(conditions.ifRange, etag)
      ? parseRange(conditions.range, b.size)
      : { kind: 'full' as const };
    const headers = {
      ...common,
      'Content-Type': BUNDLE_MEDIA_TYPE,
      'Content-Disposition': `attachment; filename="casam-bundle-v${b.version}.tar"`,
    };
    if (decision.kind === 'unsatisfiable')
      return {
        status: 416,
        headers: { ...common, 'Content-Range': `bytes */${b.size}` },
        error: new RangeNotSatisfiableError(b.size),
      };
    if (decision.kind === 'partial') {
      const { range } = decision;
      return {
        status: 206,
        headers: {
          ...headers,
          'Content-Range': contentRange(range, b.size),
          'Content-Length': String(range.end - range.start + 1),
        },
        body: await this.blobStore.open(b.contentHash, range),
      };
    }
    return {
      status: 200,
      headers: { ...headers, 'Content-Length': String(b.size) },
      body: await this.blobStore.open(b.contentHash),
    };
  }

  private async find(version: number): Promise<BundleRecord> {
    const b = await this.repo.findByVersion(version);
    if (!b) throw new BundleNotFoundError(version);
    return b;
  }
}

export function summaryOf(b: BundleRecord): BundleSummary {
  return {
    version: b.version,
    contentHash: b.contentHash,
    size: b.size,
    protocolVersion: b.protocolVersion,
    baseModelFingerprint: b.baseModelFingerprint,
    taskCount: (b.manifest as unknown as BundleManifest).tasks.length,
    kid: b.kid,
    createdAt: b.createdAt.toISOString(),
  };
}

/** The manifest comes from the JWS payload: exactly what was signed, keys in their signed order. */
export function detailOf(b: BundleRecord): BundleDetail {
  const payload = b.jws.split('.')[1];
  const manifest = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as BundleManifest;
  return { ...summaryOf(b), manifest, jws: b.jws };
}
