import { describe, expect, it } from 'vitest';
import {
  RealSplitError,
  assertDisjoint,
  evenlySpaced,
  inUnits,
  keepSlice,
  largestComponent,
  resizeBilinear,
  resizeNearest,
  slabRanges,
  splitStructure,
  tightBox,
} from './real-split';

describe('bench:real split', () => {
  it('splits by volume when a structure has two or more volumes: alternate volumes held out, none on both sides', () => {
    const vols = ['c', 'a', 'd', 'b'].map((id) => ({ id, slices: 10 }));
    const s = splitStructure('brain', vols, { slabs: 4, gap: 2 });
    expect(s.by).toBe('volume');
    expect(s.weak).toBe(false);
    expect(s.train.map((u) => u.volume)).toEqual(['a', 'c']);
    expect(s.test.map((u) => u.volume)).toEqual(['b', 'd']);
    expect(s.train.every((u) => u.from === 0 && u.to === 10)).toBe(true);
    expect(() => assertDisjoint(s, 2)).not.toThrow();
    const two = splitStructure('x', [vols[0], vols[1]], { slabs: 4, gap: 2 });
    expect(two.train.map((u) => u.volume)).toEqual(['a']);
    expect(two.test.map((u) => u.volume)).toEqual(['c']);
  });

  it('falls back to disjoint slabs of a single volume, marked weak, with gap slices on neither side', () => {
    const s = splitStructure('bone', [{ id: 'ct', slices: 100 }], { slabs: 4, gap: 3 });
    expect(s.by).toBe('slab');
    expect(s.weak).toBe(true);
    expect(s.train.map((u) => [u.from, u.to])).toEqual([
      [0, 25],
      [53, 75],
    ]);
    expect(s.test.map((u) => [u.from, u.to])).toEqual([
      [28, 50],
      [78, 100],
    ]);
    assertDisjoint(s, 3);
    for (let i = 0; i < 100; i++) {
      const tr = inUnits(s.train, 'ct', i);
      const te = inUnits(s.test, 'ct', i);
      expect(tr && te).toBe(false);
      if (te) for (let d = -3; d <= 3; d++) expect(inUnits(s.train, 'ct', i + d)).toBe(false);
    }
    // The gap slices belong to neither side.
    for (const i of [25, 26, 27, 50, 51, 52, 75, 76, 77]) {
      expect(inUnits(s.train, 'ct', i) || inUnits(s.test, 'ct', i)).toBe(false);
    }
  });

  it('rejects a split with a volume or close slices on both sides', () => {
    expect(() =>
      assertDisjoint(
        {
          structure: 's',
          by: 'volume',
          weak: false,
          train: [{ volume: 'a', from: 0, to: 5 }],
          test: [{ volume: 'a', from: 0, to: 5 }],
        },
        0,
      ),
    ).toThrow(/on both sides/);
    const near = {
      structure: 's',
      by: 'slab' as const,
      weak: true,
      train: [{ volume: 'a', from: 0, to: 10 }],
      test: [{ volume: 'a', from: 11, to: 20 }],
    };
    expect(() => assertDisjoint(near, 2)).toThrow(/only 2 apart/);
    expect(() => assertDisjoint(near, 1)).not.toThrow();
    expect(() => assertDisjoint({ ...near, test: [{ volume: 'a', from: 5, to: 20 }] }, 0)).toThrow(
      /overlapping/,
    );
    expect(() => assertDisjoint({ ...near, test: [] }, 0)).toThrow(/empty side/);
  });

  it('refuses impossible slab plans and bad input clearly', () => {
    expect(() => slabRanges(6, 4, 2)).toThrow(RealSplitError);
    expect(() => slabRanges(10, 1, 0)).toThrow(/slabs/);
    expect(() => splitStructure('s', [], { slabs: 4, gap: 0 })).toThrow(/no volumes/);
    expect(() =>
      splitStructure(
        's',
        [
          { id: 'a', slices: 3 },
          { id: 'a', slices: 3 },
        ],
        { slabs: 4, gap: 0 },
      ),
    ).toThrow(/twice/);
  });

  it('boxes and the minimum region size', () => {
    const w = 6;
    const h = 4;
    const m = new Uint8Array(w * h);
    expect(tightBox(m, w, h)).toBeNull();
    m[1 * w + 2] = 1;
    m[2 * w + 4] = 1;
    expect(tightBox(m, w, h)).toEqual([2, 1, 4, 2]);
    expect(keepSlice(m, 2)).toBe(true);
    expect(keepSlice(m, 3)).toBe(false);
    expect(() => keepSlice(m, 0)).toThrow(/minPixels/);
    expect(() => tightBox(m, 5, 4)).toThrow(/expected 5×4/);
  });

  it('resizes masks by nearest neighbour (labels stay 0/1) and images bilinearly', () => {
    const m = Uint8Array.from([0, 1, 1, 0]);
    const up = resizeNearest(m, 2, 2, 4, 4);
    expect([...up]).toEqual([0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0]);
    const img = Uint8Array.from([0, 100]);
    const b = resizeBilinear(img, 2, 1, 4, 1);
    expect([...b]).toEqual([0, 25, 75, 100]);
  });

  it('keeps the largest 8-connected component only', () => {
    // 5×4: a 3-pixel diagonal (8-connected) and a 2-pixel blob.
    const m = Uint8Array.from([1, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect([...largestComponent(m, 5, 4)]).toEqual([
      1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
    ]);
    expect([...largestComponent(new Uint8Array(4), 2, 2)]).toEqual([0, 0, 0, 0]);
    expect(() => largestComponent(m, 4, 4)).toThrow(/expected 4×4/);
  });

  it('thins a list evenly for --quick', () => {
    const xs = Array.from({ length: 10 }, (_, i) => i);
    expect(evenlySpaced(xs, 4)).toEqual([0, 2, 5, 7]);
    expect(evenlySpaced(xs, 20)).toEqual(xs);
    expect(() => evenlySpaced(xs, 0)).toThrow(/positive/);
  });
});
