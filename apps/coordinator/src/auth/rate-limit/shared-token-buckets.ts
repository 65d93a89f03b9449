import { createHash } from 'node:crypto';
import type { SqlClient } from '../../database/database';

export interface TokenBucketOptions {
  /** Sustained rate: tokens added per minute (an integer ≥ 1). */
  ratePerMinute: number;
  /** Bucket size: how many requests may come at once (an integer ≥ 1). */
  burst: number;
}

export type TakeResult = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/** Tokens are counted in units of 1/60000, so the refill (`ratePerMinute` units per ms) stays an integer. */
const UNIT = 60_000;
/** Full buckets (they hold nothing a fresh one would not) are deleted at most this often. */
const SWEEP_INTERVAL_MS = 60_000;

/**
 * Token buckets in the database (table rate_limit_buckets), one per (bucket, key), shared by every replica:
 * each starts full (`burst` tokens), each request takes one, and tokens flow back at `ratePerMinute`. A take
 * is one atomic upsert, so concurrent requests on any number of replicas never get more than the bucket
 * holds. Keys are stored as sha256 hex. Full buckets are swept (forgetting one only makes it full again).
 */
export class SharedTokenBuckets {
  private readonly capacity: number;
  private lastSweep = 0;

  constructor(
    private readonly sql: SqlClient,
    private readonly options: TokenBucketOptions,
    /** ms clock (injected so tests can move time). */
    private readonly now: () => number,
  ) {
    const { ratePerMinute, burst } = options;
    if (!Number.isInteger(ratePerMinute) || ratePerMinute < 1 || !Number.isInteger(burst) || burst < 1)
      throw new RangeError('a token bucket needs integer ratePerMinute ≥ 1 and burst ≥ 1');
    this.capacity = burst * UNIT;
  }

  /** Takes one token from the bucket of `key` in `bucket`. A clock that steps back refills nothing. */
  async take(bucket: string, key: string): Promise<TakeResult> {
    const now = Math.floor(this.now());
    await this.sweep(now);
    const hashed = createHash('sha256').update(key).digest('hex');
    // The refilled level, from the row as it was before this take (elapsed time capped: no overflow).
    const level = `LEAST($4::bigint, b.units + LEAST(GREATEST(0, $3::bigint - b.at_ms), $4::bigint) * $5::bigint)`;
    const [row] = await this.sql.query<{ units: string | number; allowed: boolean }>(
      `INSERT INTO rate_limit_buckets AS b (bucket, key, units, at_ms, allowed)
       VALUES ($1, $2, $4::bigint - $6::bigint, $3::bigint, true)
       ON CONFLICT (bucket, key) DO UPDATE SET
         units = CASE WHEN ${level} >= $6::bigint THEN ${level} - $6::bigint ELSE ${level} END,
         allowed = ${level} >= $6::bigint,
         at_ms = GREATEST($3::bigint, b.at_ms)
       RETURNING units, allowed`,
      [bucket, hashed, String(now), String(this.capacity), String(this.options.ratePerMinute), String(UNIT)],
    );
    if (row.allowed) return { allowed: true };
    const waitMs = Math.ceil((UNIT - Number(row.units)) / this.options.ratePerMinute);
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
  }

  /** Number of buckets remembered (for tests). */
  async size(): Promise<number> {
    const [row] = await this.sql.query<{ n: string | number }>(
      'SELECT count(*) AS n FROM rate_limit_buckets',
    );
    return Number(row.n);
  }

  /** Deletes the buckets that have refilled completely (at most once a minute per process). */
  async sweep(now: number, force = false): Promise<void> {
    if (!force && now - this.lastSweep < SWEEP_INTERVAL_MS) return;
    this.lastSweep = now;
    const fullAfterMs = Math.ceil(this.capacity / this.options.ratePerMinute);
    await this.sql.query('DELETE FROM rate_limit_buckets WHERE at_ms <= $1::bigint', [
      String(now - fullAfterMs),
    ]);
  }
}
