export interface TokenBucketOptions {
  /** Sustained rate: tokens added per minute. */
  ratePerMinute: number;
  /** Bucket size: how many requests may come at once. */
  burst: number;
  /** Most keys remembered; beyond it, full buckets and then the least recently used are forgotten. */
  maxKeys?: number;
}

export type TakeResult = { allowed: true } | { allowed: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  /** ms timestamp of the last refill. */
  at: number;
}

const DEFAULT_MAX_KEYS = 50_000;

/**
 * In-process token buckets, one per key: each starts full (`burst` tokens), each request takes one, and tokens
 * flow back at `ratePerMinute`. Forgetting a bucket only ever makes it full again, so memory is bounded without
 * ever being stricter than the limit says.
 */
export class TokenBucketLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  private readonly maxKeys: number;

  constructor(
    private readonly options: TokenBucketOptions,
    /** ms clock (injected so tests can move time). */
    private readonly now: () => number,
  ) {
    if (!(options.ratePerMinute > 0) || !(options.burst >= 1))
      throw new RangeError('a token bucket needs ratePerMinute > 0 and burst ≥ 1');
    this.perMs = options.ratePerMinute / 60_000;
    this.maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
  }

  take(key: string): TakeResult {
    const now = this.now();
    const bucket = this.refilled(key, now);
    // Re-inserting keeps the Map in least-recently-used order for pruning.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (this.buckets.size > this.maxKeys) this.prune(now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return {
      allowed: false,
      retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.perMs / 1000)),
    };
  }

  /** Number of keys currently remembered (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  private refilled(key: string, now: number): Bucket {
    const b = this.buckets.get(key);
    if (!b) return { tokens: this.options.burst, at: now };
    const elapsed = Math.max(0, now - b.at); // a clock that steps back refills nothing, and takes nothing away
    return { tokens: Math.min(this.options.burst, b.tokens + elapsed * this.perMs), at: now };
  }

  private prune(now: number): void {
    for (const [key, b] of this.buckets)
      if (b.tokens + (now - b.at) * this.perMs >= this.options.burst) this.buckets.delete(key);
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= this.maxKeys) break;
      this.buckets.delete(key);
    }
  }
}
