import { Controller, Get } from '@nestjs/common';
import type { LivenessResponse, ReadinessResponse } from '@casam/protocol';
import { Public } from '../auth/auth.decorators';
import { HealthService } from './health.service';

/** Probes for orchestrators and load balancers; unauthenticated, outside the /api prefix. */
@Public()
@Controller()
export class HealthController {
  constructor(private readonly health: HealthService) {}

  @Get('healthz')
  liveness(): LivenessResponse {
    return this.health.liveness();
  }

  @Get('readyz')
  readiness(): Promise<ReadinessResponse> {
    return this.health.readiness();
  }
}
