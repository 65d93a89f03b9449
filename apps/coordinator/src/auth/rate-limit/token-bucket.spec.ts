import { describe, expect, it } from 'vitest';
import { TokenBucketLimiter } from './token-bucket';

function limiter(opts: { ratePerMinute: number; burst: number; maxKeys?: number }) {
  let now = 1_000_000;
  const l = new TokenBucketLimiter(opts, () => now);
  return { l, advance: (ms: number) => void (now += ms), setNow: (ms: number) => void (now = ms) };
}

describe('TokenBucketLimiter', () => {
  it('allows a burst, then one request per refill interval, and says how long to wait', () => {
    const { l, advance } = limiter({ ratePerMinute: 20, burst: 10 });
    for (let i = 0; i < 10; i++) expect(l.take('a').allowed).toBe(true);
    expect(l.take('a')).toEqual({ allowed: false, retryAfterSeconds: 3 }); // 20/min = one every 3 s
    advance(2_000);
    expect(l.take('a')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    advance(1_000);
    expect(l.take('a').allowed).toBe(true);
    expect(l.take('a').allowed).toBe(false);
  });

  it('keeps keys apart and never refills beyond the burst', () => {
    const { l, advance } = limiter({ ratePerMinute: 60, burst: 2 });
    expect([l.take('a'), l.take('a'), l.take('a')].map((r) => r.allowed)).toEqual([true, true, false]);
    expect(l.take('b').allowed).toBe(true);
    advance(3_600_000);
    expect([l.take('a'), l.take('a'), l.take('a')].map((r) => r.allowed)).toEqual([true, true, false]);
  });

  it('refills nothing when the clock steps back', () => {
    const { l, setNow } = limiter({ ratePerMinute: 60, burst: 1 });
    expect(l.take('a').allowed).toBe(true);
    setNow(0);
    expect(l.take('a').allowed).toBe(false);
  });

  it('forgets full buckets first and bounds the number of keys', () => {
    const { l, advance } = limiter({ ratePerMinute: 60, burst: 1, maxKeys: 3 });
    l.take('spent');
    advance(500);
    for (const k of ['x', 'y', 'z', 'w']) l.take(k);
    expect(l.size).toBeLessThanOrEqual(3);
    // Forgetting only ever makes a bucket full again: never stricter than the limit.
    advance(1_000);
    expect(l.take('spent').allowed).toBe(true);
  });

  it('refuses nonsense settings', () => {
    expect(() => new TokenBucketLimiter({ ratePerMinute: 0, burst: 1 }, () => 0)).toThrow(RangeError);
    expect(() => new TokenBucketLimiter({ ratePerMinute: 1, burst: 0 }, () => 0)).toThrow(RangeError);
  });
});
