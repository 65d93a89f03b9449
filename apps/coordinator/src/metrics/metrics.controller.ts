import { Controller, Get, Header, Inject, Req } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { Public } from '../auth/auth.decorators';
import { bearerToken } from '../auth/principal-resolver';
import { UnauthenticatedError } from '../common/domain-error';
import { COORDINATOR_CONFIG } from '../config/config.module';
import type { CoordinatorConfig } from '../config/coordinator-config';
import { MetricsService } from './metrics.service';

/**
 * `GET /metrics`, Prometheus text format. Open unless COORDINATOR_METRICS_TOKEN is set, in which case the
 * scraper sends it as a bearer token. Outside /api, like the health probes.
 */
@Public()
@Controller()
export class MetricsController {
  constructor(
    private readonly metrics: MetricsService,
    @Inject(COORDINATOR_CONFIG) private readonly config: CoordinatorConfig,
  ) {}

  @Get('metrics')
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  async scrape(@Req() req: IncomingMessage): Promise<string> {
    const expected = this.config.metricsToken;
    if (expected) {
      const got = Buffer.from(bearerToken(req.headers.authorization) ?? '');
      const want = Buffer.from(expected);
      if (got.length !== want.length || !timingSafeEqual(got, want))
        throw new UnauthenticatedError(
          'missing_token',
          'metrics need the scrape token: Authorization: Bearer <COORDINATOR_METRICS_TOKEN>',
        );
    }
    return this.metrics.registry.metrics();
  }
}
