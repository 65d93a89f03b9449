import { Inject, Injectable } from '@nestjs/common';
import { Clock } from '../../common/clock';
import { COORDINATOR_CONFIG } from '../../config/config.module';
import type { CoordinatorConfig } from '../../config/coordinator-config';
import { Database } from '../../database/database';
import { SharedTokenBuckets, type TakeResult } from './shared-token-buckets';

/** The auth endpoints that are rate limited; each has its own buckets. */
export type AuthRateLimitBucket = 'login' | 'enroll' | 'site-token' | 'key-rotation';

/**
 * Rate limits of the auth endpoints: one token bucket per endpoint and client key (address, and for login
 * also the email), all with COORDINATOR_AUTH_RATE_PER_MINUTE / COORDINATOR_AUTH_RATE_BURST. The buckets live
 * in the database, so every replica draws from the same ones: N replicas allow the rate, not N times it.
 */
@Injectable()
export class AuthRateLimiter {
  private readonly buckets: SharedTokenBuckets;

  constructor(@Inject(COORDINATOR_CONFIG) config: CoordinatorConfig, db: Database, clock: Clock) {
    const { ratePerMinute, rateBurst } = config.auth;
    this.buckets = new SharedTokenBuckets(db.sql, { ratePerMinute, burst: rateBurst }, () =>
      clock.now().getTime(),
    );
  }

  /**
   * Takes one token from the bucket of every key (`address:…`, `email:…`); refused when any of them is empty,
   * with the longest wait.
   */
  async take(bucket: AuthRateLimitBucket, keys: readonly string[]): Promise<TakeResult> {
    let wait = 0;
    for (const key of keys) {
      const r = await this.buckets.take(bucket, key);
      if (!r.allowed) wait = Math.max(wait, r.retryAfterSeconds);
    }
    return wait > 0 ? { allowed: false, retryAfterSeconds: wait } : { allowed: true };
  }
}
