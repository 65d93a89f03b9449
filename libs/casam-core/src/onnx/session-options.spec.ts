import { describe, expect, it } from 'vitest';
import { ortSessionOptions } from './session-options';

describe('ortSessionOptions', () => {
  it('turns intra-op spinning off unless asked, and passes the thread count', () => {
    expect(ortSessionOptions().extra).toEqual({ session: { intra_op: { allow_spinning: '0' } } });
    expect(ortSessionOptions({ spinning: true }).extra).toEqual({
      session: { intra_op: { allow_spinning: '1' } },
    });
    expect(ortSessionOptions({ threads: 2 }).intraOpNumThreads).toBe(2);
    expect(ortSessionOptions()).not.toHaveProperty('intraOpNumThreads');
    expect(ortSessionOptions()).toMatchObject({ executionMode: 'sequential', graphOptimizationLevel: 'all' });
  });

  it('refuses a thread count that is not a positive integer', () => {
    for (const threads of [0, -1, 1.5, Number.NaN])
      expect(() => ortSessionOptions({ threads })).toThrow(RangeError);
  });
});
