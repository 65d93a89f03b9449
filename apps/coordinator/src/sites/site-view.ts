import type { Site, SiteKey } from '@prisma/client';
import type { SiteKeySummary, SiteSummary } from '@casam/protocol';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function toSiteKeySummary(k: SiteKey): SiteKeySummary {
  return {
    id: k.id,
    fingerprint: k.fingerprint,
    status: k.status,
    createdAt: k.createdAt.toISOString(),
    notAfter: iso(k.notAfter),
    rotatedAt: iso(k.rotatedAt),
    revokedAt: iso(k.revokedAt),
  };
}

/** The API's view of a site; `keys` may hold other sites' keys (only this site's are kept, newest first). */
export function toSiteSummary(site: Site, keys: readonly SiteKey[]): SiteSummary {
  return {
    id: site.id,
    name: site.name,
    status: site.status,
    statusReason: site.statusReason,
    decidedById: site.decidedById,
    decidedAt: iso(site.decidedAt),
    createdAt: site.createdAt.toISOString(),
    presence: {
      lastSeenAt: iso(site.lastSeenAt),
      lastSeenAddress: site.lastSeenAddress,
      agentVersion: site.agentVersion,
      protocolVersion: site.protocolVersion,
      bundleVersion: site.installedBundleVersion,
      bundleReportedAt: iso(site.installedBundleReportedAt),
    },
    keyRotationRequestedAt: iso(site.keyRotationRequestedAt),
    keys: keys
      .filter((k) => k.siteId === site.id)
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1))
      .map(toSiteKeySummary),
  };
}
