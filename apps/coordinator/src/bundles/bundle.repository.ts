import { Injectable } from '@nestjs/common';
import type { Prisma, RouterBundle } from '@prisma/client';
import type { BundleManifest } from '@casam/protocol';
import { Database } from '../database/database';
import { isUniqueViolation } from '../database/prisma-errors';

/** A router bundle with what serving it needs: the archive's size and the signing key's kid. */
export type BundleRecord = RouterBundle & { size: number; kid: string };

export interface NewBundle {
  version: number;
  protocolVersion: string;
  baseModelFingerprint: string;
  manifest: BundleManifest;
  jws: string;
  contentHash: string;
  signingKeyId: string;
  builtById: string | null;
  createdAt: Date;
}

/** Approved content a bundle is built from: an approved task and its newest approved adapter version. */
export interface BundleCandidate {
  taskId: string;
  name: string;
  modality: string;
  targetStructures: string[];
  baseModelFingerprint: string;
  baseModelPreset: string;
  embeddingChannels: number;
  /** When the task was approved (the oldest approved task's base model wins a disagreement). */
  decidedAt: Date | null;
  adapterVersionId: string;
  adapterVersion: number;
  tauStats: unknown;
  adapterBlobHash: string;
  sizeBytes: number;
  /** The adapter file's format version (2: with a decoder delta) and its stored delta metadata. */
  formatVersion: number;
  decoderLora: unknown;
}

const withServingInfo = {
  content: { select: { size: true } },
  signingKey: { select: { kid: true } },
} as const;

type Row = Prisma.RouterBundleGetPayload<{ include: typeof withServingInfo }>;

/** Published router bundles (append-only history) and the approved content the next one is built from. */
@Injectable()
export class BundleRepository {
  constructor(private readonly db: Database) {}

  async latest(): Promise<BundleRecord | null> {
    const row = await this.db.prisma.routerBundle.findFirst({
      orderBy: { version: 'desc' },
      include: withServingInfo,
    });
    return row ? toRecord(row) : null;
  }

  async findByVersion(version: number): Promise<BundleRecord | null> {
    const row = await this.db.prisma.routerBundle.findUnique({
      where: { version },
      include: withServingInfo,
    });
    return row ? toRecord(row) : null;
  }

  /** Newest first; `before` continues below a version. */
  async list(page: { limit: number; before?: number }): Promise<BundleRecord[]> {
    const rows = await this.db.prisma.routerBundle.findMany({
      where: page.before !== undefined ? { version: { lt: page.before } } : {},
      orderBy: { version: 'desc' },
      take: page.limit,
      include: withServingInfo,
    });
    return rows.map(toRecord);
  }

  /**
   * Publishes a bundle; null when its version is taken (another builder published first: compare-and-set on
   * the unique version).
   */
  async insert(bundle: NewBundle): Promise<BundleRecord | null> {
    try {
      const row = await this.db.prisma.routerBundle.create({
        data: { ...bundle, manifest: bundle.manifest as unknown as Prisma.InputJsonObject },
        include: withServingInfo,
      });
      return toRecord(row);
    } catch (e) {
      if (isUniqueViolation(e)) return null;
      throw e;
    }
  }

  /** Every approved task that has an approved adapter version, with its newest one; by task id. */
  async candidates(): Promise<BundleCandidate[]> {
    const tasks = await this.db.prisma.task.findMany({
      where: { status: 'approved', adapterVersions: { some: { status: 'approved' } } },
      orderBy: { id: 'asc' },
      include: {
        adapterVersions: { where: { status: 'approved' }, orderBy: { version: 'desc' }, take: 1 },
      },
    });
    return tasks.map((t) => {
      const a = t.adapterVersions[0];
      return {
        taskId: t.id,
        name: t.name,
        modality: t.modality,
        targetStructures: t.targetStructures,
        baseModelFingerprint: t.baseModelFingerprint,
        baseModelPreset: t.baseModelPreset,
        embeddingChannels: t.embeddingChannels,
        decidedAt: t.decidedAt,
        adapterVersionId: a.id,
        adapterVersion: a.version,
        tauStats: a.tauStats,
        adapterBlobHash: a.adapterBlobHash,
        sizeBytes: a.sizeBytes,
        formatVersion: a.formatVersion,
        decoderLora: a.decoderLora,
      };
    });
  }

  /** Who decided the change that triggers a build (for the audit trail). */
  async adapterDecidedBy(adapterVersionId: string): Promise<string | null> {
    const a = await this.db.prisma.adapterVersion.findUnique({
      where: { id: adapterVersionId },
      select: { decidedById: true },
    });
    return a?.decidedById ?? null;
  }

  async taskDecidedBy(taskId: string): Promise<string | null> {
    const t = await this.db.prisma.task.findUnique({ where: { id: taskId }, select: { decidedById: true } });
    return t?.decidedById ?? null;
  }
}

function toRecord(row: Row): BundleRecord {
  const { content, signingKey, ...bundle } = row;
  return { ...bundle, size: Number(content.size), kid: signingKey.kid };
}
