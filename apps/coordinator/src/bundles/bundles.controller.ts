import { pipeline } from 'node:stream/promises';
import { Controller, Get, Headers, Logger, Param, Res } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import {
  type BundleDetail,
  type BundleListResponse,
  HTTP_MESSAGES as M,
  type ListBundlesQuery,
} from '@casam/protocol';
import { Allow } from '../auth/auth.decorators';
import { InvalidInputError } from '../common/domain-error';
import { WireQuery } from '../common/wire-request';
import { BundlesService } from './bundles.service';

/** A bundle version from the path; its own code (`invalid_bundle_version`), so a site can tell it from the rest. */
function parseVersion(raw: string): number {
  if (!/^[1-9]\d{0,8}$/.test(raw))
    throw new InvalidInputError(
      'invalid_bundle_version',
      `bundle version must be a positive integer, got "${raw.slice(0, 40)}"`,
    );
  return Number(raw);
}

/** Published router bundles, for admins (viewer role) and sites. */
@Allow('viewer', 'site')
@Controller('api/v1/bundles')
export class BundlesController {
  private readonly logger = new Logger('Bundles');

  constructor(private readonly bundles: BundlesService) {}

  @Get()
  async list(@WireQuery(M.list_bundles) q: ListBundlesQuery): Promise<BundleListResponse> {
    return { bundles: await this.bundles.list({ limit: q.limit ?? 100, before: q.before }) };
  }

  @Get('latest')
  latest(): Promise<BundleDetail> {
    return this.bundles.latest();
  }

  @Get(':version')
  get(@Param('version') version: string): Promise<BundleDetail> {
    return this.bundles.get(parseVersion(version));
  }

  /** The archive: ETag = sha256, `If-None-Match` → 304, one `Range` → 206, outside → 416. */
  @Get(':version/archive')
  async archive(
    @Param('version') version: string,
    @Headers('range') range: string | undefined,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Headers('if-range') ifRange: string | undefined,
    @Res() res: ServerResponse,
  ): Promise<void> {
    const answer = await this.bundles.archive(parseVersion(version), { range, ifNoneMatch, ifRange });
    for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
    if (answer.status === 416) throw answer.error;
    res.statusCode = answer.status;
    if (answer.status === 304) {
      res.end();
      return;
    }
    try {
      await pipeline(answer.body, res);
    } catch (e) {
      // Headers are gone: all that is left is to cut the connection so the client sees a short download.
      this.logger.error(`archive of bundle ${version} failed while streaming: ${(e as Error).message}`);
      res.destroy();
    }
  }
}
