export interface TokenBucketOptions {
  /** Sustained rate: tokens added per minute (an integer ≥ 1). */
  ratePerMinute: number;
  /** Bucket size: how many requests may come at once (an integer ≥ 1). */
  burst: number;
  /** Most keys remembered; beyond it, full buckets and then the least recently used are forgotten. */
  maxKeys?: number;
}

export type TakeResult = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/** Tokens are counted in units of 1/60000, so the refill (`ratePerMinute` units per ms) stays an integer. */
const UNIT = 60_000;
const DEFAULT_MAX_KEYS = 50_000;

interface Bucket {
  /** Tokens in units of 1/{@link UNIT}. */
  units: number;
  /** ms timestamp of the last refill. */
  at: number;
}

/**
 * In-process token buckets, one per key: each starts full (`burst` tokens), each request takes one, and tokens
 * flow back at `ratePerMinute`. Forgetting a bucket only ever makes it full again, so memory is bounded without
 * ever being stricter than the limit says.
 */
export class TokenBucketLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly capacity: number;
  private readonly maxKeys: number;

  constructor(
    private readonly options: TokenBucketOptions,
    /** ms clock (injected so tests can move time). */
    private readonly now: () => number,
  ) {
    const { ratePerMinute, burst } = options;
    if (!Number.isInteger(ratePerMinute) || ratePerMinute < 1 || !Number.isInteger(burst) || burst < 1)
      throw new RangeError('a token bucket needs integer ratePerMinute ≥ 1 and burst ≥ 1');
    this.capacity = burst * UNIT;
    this.maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
  }

  take(key: string): TakeResult {
    const now = Math.floor(this.now());
    const bucket = this.refilled(key, now);
    // Re-inserting keeps the Map in least-recently-used order for pruning.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    if (this.buckets.size > this.maxKeys) this.prune(now);
    if (bucket.units >= UNIT) {
      bucket.units -= UNIT;
      return { allowed: true };
    }
    const waitMs = Math.ceil((UNIT - bucket.units) / this.options.ratePerMinute);
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
  }

  /** Number of keys currently remembered (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  /** The bucket as of `now`. A clock that steps back refills nothing and takes nothing away. */
  private refilled(key: string, now: number): Bucket {
    const b = this.buckets.get(key);
    if (!b) return { units: this.capacity, at: now };
    return { units: this.fullness(b, now), at: Math.max(now, b.at) };
  }

  private fullness(b: Bucket, now: number): number {
    return Math.min(this.capacity, b.units + Math.max(0, now - b.at) * this.options.ratePerMinute);
  }

  private prune(now: number): void {
    for (const [key, b] of this.buckets) if (this.fullness(b, now) >= this.capacity) this.buckets.delete(key);
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= this.maxKeys) break;
      this.buckets.delete(key);
    }
  }
}
