import { Inject, Injectable } from '@nestjs/common';
import { Clock } from '../../common/clock';
import { COORDINATOR_CONFIG } from '../../config/config.module';
import type { CoordinatorConfig } from '../../config/coordinator-config';
import { type TakeResult, TokenBucketLimiter } from './token-bucket';

/** The auth endpoints that are rate limited; each has its own buckets. */
export type AuthRateLimitBucket = 'login' | 'enroll' | 'site-token' | 'key-rotation';

/**
 * Rate limits of the auth endpoints: one token bucket per endpoint and client key (address, and for login
 * also the email), all with COORDINATOR_AUTH_RATE_PER_MINUTE / COORDINATOR_AUTH_RATE_BURST. In process:
 * replicas do not share buckets, so N replicas allow up to N times the rate.
 */
@Injectable()
export class AuthRateLimiter {
  private readonly limiters = new Map<AuthRateLimitBucket, TokenBucketLimiter>();

  constructor(
    @Inject(COORDINATOR_CONFIG) private readonly config: CoordinatorConfig,
    private readonly clock: Clock,
  ) {}

  /**
   * Takes one token from the bucket of every key (`address:…`, `email:…`); refused when any of them is empty,
   * with the longest wait.
   */
  take(bucket: AuthRateLimitBucket, keys: readonly string[]): TakeResult {
    const limiter = this.limiter(bucket);
    let wait = 0;
    for (const key of keys) {
      const r = limiter.take(key);
      if (!r.allowed) wait = Math.max(wait, r.retryAfterSeconds);
    }
    return wait > 0 ? { allowed: false, retryAfterSeconds: wait } : { allowed: true };
  }

  private limiter(bucket: AuthRateLimitBucket): TokenBucketLimiter {
    let l = this.limiters.get(bucket);
    if (!l) {
      const { ratePerMinute, rateBurst } = this.config.auth;
      l = new TokenBucketLimiter({ ratePerMinute, burst: rateBurst }, () => this.clock.now().getTime());
      this.limiters.set(bucket, l);
    }
    return l;
  }
}
