import { createHash } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { CLOCK_TOLERANCE_SECONDS } from '../auth/access-token.service';
import { Clock } from '../common/clock';
import { SignedAssertionError, type SignedAssertionKind } from './signed-assertion';
import { UsedTokenIdRepository } from './used-token-id.repository';

const SWEEP_INTERVAL_MS = 60_000;

/**
 * One use per signed assertion: its `jti` is recorded until the assertion could no longer be accepted anyway
 * (`exp` + clock tolerance), and a second use is refused. Stored as sha256(purpose, site, jti), so the ids of
 * different purposes and sites never collide and every key is 64 characters whatever the client chose.
 * Expired entries are swept at most once a minute, piggybacked on a use.
 */
@Injectable()
export class ReplayGuard {
  private readonly logger = new Logger('ReplayGuard');
  private lastSweep = 0;

  constructor(
    private readonly used: UsedTokenIdRepository,
    private readonly clock: Clock,
  ) {}

  async consume(kind: SignedAssertionKind, siteId: string, jti: string, exp: number): Promise<void> {
    const now = this.clock.now();
    const key = createHash('sha256').update(`${kind}\n${siteId}\n${jti}`).digest('hex');
    const expiresAt = new Date((exp + CLOCK_TOLERANCE_SECONDS) * 1000);
    if (!(await this.used.remember({ jti: key, subject: siteId, expiresAt })))
      throw new SignedAssertionError(
        kind,
        'replayed',
        `jti ${JSON.stringify(jti)} was already used; sign a new one for every request`,
      );
    if (now.getTime() - this.lastSweep >= SWEEP_INTERVAL_MS) {
      this.lastSweep = now.getTime();
      await this.used
        .sweepExpired(now)
        .catch((e: Error) => this.logger.warn(`sweep of used jtis failed: ${e.message}`));
    }
  }
}
