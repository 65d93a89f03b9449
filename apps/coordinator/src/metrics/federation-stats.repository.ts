import { Injectable } from '@nestjs/common';
import { Database } from '../database/database';

/** The federation's counts that the metrics gauges read at scrape time. */
@Injectable()
export class FederationStatsRepository {
  constructor(private readonly db: Database) {}

  /** Rows of `table` by status (`{approved: 3, pending: 1}`). */
  async countByStatus(table: 'sites' | 'tasks' | 'adapter_versions'): Promise<Record<string, number>> {
    const rows = await this.db.sql.query<{ status: string; n: number }>(
      `SELECT status::text AS status, count(*)::int AS n FROM ${table} GROUP BY status`,
    );
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  /** Version of the newest published router bundle (0: none yet). */
  async latestBundleVersion(): Promise<number> {
    const b = await this.db.prisma.routerBundle.findFirst({
      orderBy: { version: 'desc' },
      select: { version: true },
    });
    return b?.version ?? 0;
  }
}
