import { Injectable } from '@nestjs/common';
import type { Admin, Site, SiteKey } from '@prisma/client';
import { Database } from '../database/database';

/**
 * The two reads behind every authenticated request: the admin a token names, or the site key (with its site)
 * a site token was issued for. Its own small repository because the global guard needs it before any feature
 * module (admins, sites) exists.
 */
@Injectable()
export class PrincipalRepository {
  constructor(private readonly db: Database) {}

  findAdmin(id: string): Promise<Admin | null> {
    return this.db.prisma.admin.findUnique({ where: { id } });
  }

  findSiteKey(id: string): Promise<(SiteKey & { site: Site }) | null> {
    return this.db.prisma.siteKey.findUnique({ where: { id }, include: { site: true } });
  }
}
