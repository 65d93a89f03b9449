import { describe, expect, it } from 'vitest';
import { CoalescingWriter } from './coalescing-writer';

/** A write that finishes when the test says so. */
function gatedWrites() {
  const writes: { key: string; value: number }[] = [];
  const gates: (() => void)[] = [];
  let failNext = false;
  return {
    writes,
    failNext: () => (failNext = true),
    open: async () => {
      for (;;) {
        await new Promise((r) => setImmediate(r));
        const g = gates.shift();
        if (!g) return;
        g();
      }
    },
    write: (key: string, value: number) =>
      new Promise<void>((resolve, reject) => {
        writes.push({ key, value });
        const fail = failNext;
        failNext = false;
        gates.push(() => (fail ? reject(new Error('database down')) : resolve()));
      }),
  };
}

describe('CoalescingWriter', () => {
  it('writes the first value and then only the latest of those that came during the write', async () => {
    const g = gatedWrites();
    const now = 0;
    const w = new CoalescingWriter<number>({
      write: g.write,
      equal: (a, b) => a === b,
      refreshMs: 60_000,
      now: () => now,
    });
    const done = Array.from({ length: 1000 }, (_, i) => w.submit('site-a', i));
    await g.open();
    await Promise.all(done);
    expect(g.writes).toEqual([
      { key: 'site-a', value: 0 },
      { key: 'site-a', value: 999 },
    ]);
  });

  it('keeps keys apart, joins an equal value to the write under way, skips a fresh equal value', async () => {
    const g = gatedWrites();
    let now = 0;
    const w = new CoalescingWriter<number>({
      write: g.write,
      equal: (a, b) => a === b,
      refreshMs: 60_000,
      now: () => now,
    });
    const a = [w.submit('a', 1), w.submit('a', 1), w.submit('b', 1)];
    await g.open();
    await Promise.all(a);
    expect(g.writes).toEqual([
      { key: 'a', value: 1 },
      { key: 'b', value: 1 },
    ]);
    await w.submit('a', 1); // nothing changed: not written
    expect(g.writes).toHaveLength(2);
    now += 60_000; // stale: written again
    const again = w.submit('a', 1);
    await g.open();
    await again;
    const changed = w.submit('a', 2);
    await g.open();
    await changed;
    expect(g.writes.map((x) => `${x.key}${x.value}`)).toEqual(['a1', 'b1', 'a1', 'a2']);
    w.forget('a');
    const afterForget = w.submit('a', 2);
    await g.open();
    await afterForget;
    expect(g.writes).toHaveLength(5);
  });

  it('rejects every submission a failed write covered, and writes the next value', async () => {
    const g = gatedWrites();
    const w = new CoalescingWriter<number>({
      write: g.write,
      equal: (a, b) => a === b,
      refreshMs: 60_000,
      now: () => 0,
    });
    g.failNext();
    const first = w.submit('a', 1);
    const joined = w.submit('a', 1);
    const later = w.submit('a', 2);
    const settled = Promise.allSettled([first, joined, later]);
    await g.open();
    expect((await settled).map((r) => r.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
  });
});
