import { describe, expect, it } from 'vitest';
import { SocketEventBudget } from './socket-event-budget';

describe('SocketEventBudget', () => {
  it('accepts a burst, then the rate; refuses past it; forgives a short overshoot but not a flood', () => {
    let now = 0;
    const b = new SocketEventBudget({ perMinute: 60, burst: 5 }, () => now);
    const take = (n: number) => Array.from({ length: n }, () => b.take());
    expect(take(5)).toEqual(Array(5).fill('accepted'));
    // over: refused, up to `burst` of them, then abusive
    expect(take(5)).toEqual(Array(5).fill('refused'));
    expect(b.take()).toBe('abusive');
    expect([b.accepted, b.refused]).toEqual([5, 6]);

    const steady = new SocketEventBudget({ perMinute: 60, burst: 5 }, () => now);
    // one a second (the rate) forever: always accepted
    for (let i = 0; i < 600; i++) {
      now += 1000;
      expect(steady.take()).toBe('accepted');
    }
  });

  it('refills both buckets over time: a client that slows down is accepted again', () => {
    let now = 0;
    const b = new SocketEventBudget({ perMinute: 60, burst: 2 }, () => now);
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual(['accepted', 'accepted', 'refused', 'refused']);
    now += 60_000; // a quiet minute: the events and the refusal allowance are full again
    expect([b.take(), b.take()]).toEqual(['accepted', 'accepted']);
    expect([b.take(), b.take(), b.take()]).toEqual(['refused', 'refused', 'abusive']);
  });

  it('cuts a client sending at twice the rate within about a minute', () => {
    let now = 0;
    const b = new SocketEventBudget({ perMinute: 120, burst: 30 }, () => now);
    let t = 0;
    let verdict = b.take();
    while (verdict !== 'abusive' && t < 600_000) {
      t += 250; // 240 a minute
      now = t;
      verdict = b.take();
    }
    expect(verdict).toBe('abusive');
    expect(t).toBeLessThan(120_000);
  });
});
