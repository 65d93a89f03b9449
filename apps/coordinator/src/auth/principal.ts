import type { AdminRole } from '@prisma/client';

/** An admin session, from a verified admin access token whose account is still enabled. */
export interface AdminPrincipal {
  kind: 'admin';
  adminId: string;
  email: string;
  role: AdminRole;
  /** `jti` of the access token (for audit and socket rooms). */
  tokenId: string;
}

/** A site, from a verified site access token whose site is approved and whose key is still usable. */
export interface SitePrincipal {
  kind: 'site';
  siteId: string;
  siteName: string;
  /** The SiteKey row the access token was exchanged with. */
  keyId: string;
  /** RFC 7638 thumbprint of that key. */
  keyFingerprint: string;
  tokenId: string;
}

export type Principal = AdminPrincipal | SitePrincipal;

/** What may call a route: `viewer` admits both admin roles, `admin` only admins, `site` only sites. */
export type Audience = 'viewer' | 'admin' | 'site';

/** Roles an audience admits. `viewer` reads everything and changes nothing; `admin` does everything. */
export function adminRoleSatisfies(role: AdminRole, needed: 'viewer' | 'admin'): boolean {
  return needed === 'viewer' ? role === 'viewer' || role === 'admin' : role === 'admin';
}
