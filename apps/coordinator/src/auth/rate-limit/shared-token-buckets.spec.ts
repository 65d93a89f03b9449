import { beforeEach, expect, it } from 'vitest';
import { describeEachBackend, truncateAll } from '../../../testing/test-database';
import { SharedTokenBuckets } from './shared-token-buckets';

describeEachBackend('SharedTokenBuckets', (db) => {
  let now = 1_000_000;
  const buckets = (opts: { ratePerMinute: number; burst: number }) =>
    new SharedTokenBuckets(db().sql, opts, () => now);
  const advance = (ms: number) => void (now += ms);
  beforeEach(async () => {
    await truncateAll(db());
    now = 1_000_000;
  });

  it('allows a burst, then one request per refill interval, and says how long to wait', async () => {
    const l = buckets({ ratePerMinute: 20, burst: 10 });
    for (let i = 0; i < 10; i++) expect((await l.take('login', 'a')).allowed).toBe(true);
    expect(await l.take('login', 'a')).toEqual({ allowed: false, retryAfterSeconds: 3 }); // one every 3 s
    advance(2_000);
    expect(await l.take('login', 'a')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    advance(1_000);
    expect((await l.take('login', 'a')).allowed).toBe(true);
    expect((await l.take('login', 'a')).allowed).toBe(false);
  });

  it('keeps buckets and keys apart and never refills beyond the burst', async () => {
    const l = buckets({ ratePerMinute: 60, burst: 2 });
    const three = async (bucket: string, key: string) => [
      (await l.take(bucket, key)).allowed,
      (await l.take(bucket, key)).allowed,
      (await l.take(bucket, key)).allowed,
    ];
    expect(await three('login', 'a')).toEqual([true, true, false]);
    expect((await l.take('login', 'b')).allowed).toBe(true);
    expect((await l.take('enroll', 'a')).allowed).toBe(true);
    advance(3_600_000);
    expect(await three('login', 'a')).toEqual([true, true, false]);
  });

  it('refills nothing when the clock steps back', async () => {
    const l = buckets({ ratePerMinute: 60, burst: 1 });
    expect((await l.take('login', 'a')).allowed).toBe(true);
    now = 0;
    expect((await l.take('login', 'a')).allowed).toBe(false);
  });

  it('is shared: two replicas taking at once get no more than the bucket holds', async () => {
    const replicaA = buckets({ ratePerMinute: 1, burst: 5 });
    const replicaB = buckets({ ratePerMinute: 1, burst: 5 });
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 ? replicaA : replicaB).take('login', 'address:10.0.0.9')),
    );
    expect(results.filter((r) => r.allowed)).toHaveLength(5);
    expect((await replicaA.take('login', 'address:10.0.0.9')).allowed).toBe(false);
  });

  it('stores no client key in clear and sweeps only full buckets', async () => {
    const l = buckets({ ratePerMinute: 60, burst: 1 });
    await l.take('login', 'email:ops@hospital.example');
    advance(500);
    await l.take('login', 'address:10.0.0.1');
    const keys = await db().sql.query<{ key: string }>('SELECT key FROM rate_limit_buckets');
    expect(keys.map((k) => k.key).join()).not.toContain('hospital');
    advance(600); // the first is full again (1 s per token), the second is not
    await l.sweep(now, true);
    expect(await l.size()).toBe(1);
    expect((await l.take('login', 'address:10.0.0.1')).allowed).toBe(false);
  });

  it('refuses nonsense settings', () => {
    expect(() => buckets({ ratePerMinute: 0, burst: 1 })).toThrow(RangeError);
    expect(() => buckets({ ratePerMinute: 1, burst: 0 })).toThrow(RangeError);
  });
});
