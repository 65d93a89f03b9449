import { Injectable } from '@nestjs/common';
import type { Site, SiteStatus } from '@prisma/client';
import { Database } from '../database/database';
import { isUniqueViolation } from '../database/prisma-errors';
import { SiteNameTakenError } from './site.errors';

export interface SiteStatusChange {
  /** The change happens only if the site is currently in one of these states (checked atomically). */
  from: readonly SiteStatus[];
  to: SiteStatus;
  reason?: string | null;
  decidedById?: string | null;
  at: Date;
}

export interface SitePresence {
  at: Date;
  address?: string | null;
  agentVersion?: string | null;
  protocolVersion?: string | null;
}

/** Hospitals of the federation. Transition rules live in the sites service; this class only stores. */
@Injectable()
export class SiteRepository {
  constructor(private readonly db: Database) {}

  async create(site: { name: string }): Promise<Site> {
    try {
      return await this.db.prisma.site.create({ data: { name: site.name } });
    } catch (e) {
      if (isUniqueViolation(e)) throw new SiteNameTakenError(site.name);
      throw e;
    }
  }

  findById(id: string): Promise<Site | null> {
    return this.db.prisma.site.findUnique({ where: { id } });
  }

  findByName(name: string): Promise<Site | null> {
    return this.db.prisma.site.findUnique({ where: { name } });
  }

  list(filter: { status?: SiteStatus } = {}): Promise<Site[]> {
    return this.db.prisma.site.findMany({ where: filter, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  }

  /**
   * Compare-and-set on the status: the updated site, or null when the site does not exist or is not in one
   * of `change.from` (someone else decided first).
   */
  async changeStatus(id: string, change: SiteStatusChange): Promise<Site | null> {
    const { count } = await this.db.prisma.site.updateMany({
      where: { id, status: { in: [...change.from] } },
      data: {
        status: change.to,
        statusReason: change.reason ?? null,
        decidedById: change.decidedById ?? null,
        decidedAt: change.at,
      },
    });
    return count === 1 ? this.findById(id) : null;
  }

  /** Records that the site was seen; fields left undefined keep their value. False if no such site. */
  async recordPresence(id: string, seen: SitePresence): Promise<boolean> {
    const { count } = await this.db.prisma.site.updateMany({
      where: { id },
      data: {
        lastSeenAt: seen.at,
        lastSeenAddress: seen.address,
        agentVersion: seen.agentVersion,
        protocolVersion: seen.protocolVersion,
      },
    });
    return count === 1;
  }

  /** Records what the site reported running (agent version, installed bundle). False if no such site. */
  async recordStatusReport(
    id: string,
    report: { at: Date; agentVersion: string; bundleVersion: number | null },
  ): Promise<boolean> {
    const { count } = await this.db.prisma.site.updateMany({
      where: { id },
      data: {
        lastSeenAt: report.at,
        agentVersion: report.agentVersion,
        installedBundleVersion: report.bundleVersion,
        installedBundleReportedAt: report.at,
      },
    });
    return count === 1;
  }

  /** Marks that an admin asked an approved site to rotate its key; null when the site is not approved. */
  async requestKeyRotation(id: string, at: Date): Promise<Site | null> {
    const { count } = await this.db.prisma.site.updateMany({
      where: { id, status: 'approved' },
      data: { keyRotationRequestedAt: at },
    });
    return count === 1 ? this.findById(id) : null;
  }

  /** Number of sites in each status (every status present, zero included). */
  async countByStatus(): Promise<Record<SiteStatus, number>> {
    const rows = await this.db.prisma.site.groupBy({ by: ['status'], _count: { _all: true } });
    const counts: Record<SiteStatus, number> = { pending: 0, approved: 0, rejected: 0, revoked: 0 };
    for (const r of rows) counts[r.status] = r._count._all;
    return counts;
  }
}
