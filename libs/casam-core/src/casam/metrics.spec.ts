import { describe, expect, it } from 'vitest';
import { golden } from './casam-fixtures.testing';
import { createRng } from '../random/seeded-random';
import {
  MetricsInputError,
  aggregateMetrics,
  boundaryBand,
  boundaryIou,
  boundaryWidth,
  maskMetrics,
  maskMetricsBatch,
} from './metrics';

function relClose(actual: number, expected: number, rel = 1e-6): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(rel * Math.max(Math.abs(expected), 1e-30));
}

/** Reference erosion: d passes of a 3×3 minimum over a zero-padded image (the Boundary IoU reference's way). */
function slowBand(mask: Uint8Array, h: number, w: number, d: number): Uint8Array {
  let cur = Uint8Array.from(mask);
  for (let it = 0; it < d; it++) {
    const next = new Uint8Array(h * w);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        let ok = 1;
        for (let dy = -1; dy <= 1; dy++)
          for (let dx = -1; dx <= 1; dx++) {
            const yy = y + dy;
            const xx = x + dx;
            if (yy < 0 || xx < 0 || yy >= h || xx >= w || !cur[yy * w + xx]) ok = 0;
          }
        next[y * w + x] = ok;
      }
    cur = next;
  }
  return mask.map((v, i) => (v && !cur[i] ? 1 : 0));
}

function square(h: number, w: number, y0: number, x0: number, size: number): Float32Array {
  const m = new Float32Array(h * w);
  for (let y = y0; y < y0 + size; y++) for (let x = x0; x < x0 + size; x++) m[y * w + x] = 1;
  return m;
}

describe('mask metrics', () => {
  it('match the reference on the four cases (exact-zero ring, empty prediction, empty target, both empty)', () => {
    const m = maskMetricsBatch(golden('metrics.logits'), golden('metrics.target'), 4);
    const fields = [
      ['intersection', 'inter'],
      ['predArea', 'pred_area'],
      ['targetArea', 'target_area'],
      ['union', 'union'],
      ['iou', 'iou'],
      ['dice', 'dice'],
    ] as const;
    for (const [ours, theirs] of fields) {
      const g = golden(`metrics.${theirs}`);
      m.forEach((r, i) => relClose(r[ours], g[i]));
    }
    expect(m.map((r) => r.intersection)).toEqual([223, 0, 0, 0]);
    expect(m.map((r) => r.predArea)).toEqual([305, 0, 305, 0]);
    expect(m[3].iou).toBe(1);
    expect(m[3].dice).toBe(1);
  });

  it('count a logit of exactly 0 as background', () => {
    expect(maskMetrics([0, 0.1, -1], [1, 1, 0])).toMatchObject({
      intersection: 1,
      predArea: 1,
      targetArea: 2,
      union: 2,
    });
  });

  it('reject mismatched inputs', () => {
    expect(() => maskMetrics([1, 2], [1])).toThrow(MetricsInputError);
    expect(() => maskMetricsBatch([1, 2, 3], [1, 2, 3], 2)).toThrow(/do not split/);
    expect(() => maskMetricsBatch([1], [1], 0)).toThrow(/numMasks/);
  });
});

describe('boundary IoU', () => {
  it('band width is 2% of the diagonal, rounded, at least 1', () => {
    expect(boundaryWidth(64, 64)).toBe(2); // 0.02·90.5 = 1.81
    expect(boundaryWidth(1024, 1024)).toBe(29); // 28.96
    expect(boundaryWidth(256, 256)).toBe(7); // 7.24
    expect(boundaryWidth(10, 10)).toBe(1); // 0.28 → 0 → 1
  });

  it('band: a full image keeps a d-wide frame (outside counts as background); a square keeps its rim', () => {
    const full = new Uint8Array(25).fill(1);
    expect(boundaryBand(full, 5, 5, 1).reduce((a, b) => a + b, 0)).toBe(16);
    const sq = Uint8Array.from(square(20, 20, 5, 5, 7));
    expect(boundaryBand(sq, 20, 20, 2).reduce((a, b) => a + b, 0)).toBe(49 - 9);
  });

  it('band equals d passes of a 3×3 erosion on random masks', () => {
    const rng = createRng(17);
    for (const [h, w, d] of [
      [13, 17, 1],
      [20, 11, 2],
      [16, 16, 3],
    ]) {
      // blobby masks: threshold a sum of two random planes so there are runs and holes
      const m = new Uint8Array(h * w);
      const a = rng() * 0.6 + 0.2;
      for (let i = 0; i < m.length; i++) m[i] = rng() < a || (i % w > 3 && i % w < w - 3) ? 1 : 0;
      expect([...boundaryBand(m, h, w, d)]).toEqual([...slowBand(m, h, w, d)]);
    }
  });

  it('is 1 for identical masks and for two empty masks, and stricter than IoU for a shifted mask', () => {
    const a = square(64, 64, 10, 10, 30);
    expect(boundaryIou(a, a, 64, 64)).toBe(1);
    expect(boundaryIou(new Float32Array(4096), new Float32Array(4096), 64, 64)).toBe(1);
    const shifted = square(64, 64, 12, 12, 30);
    const iou = maskMetrics(shifted, a).iou;
    const biou = boundaryIou(shifted, a, 64, 64);
    // d = 2: each band is 30² − 26² = 224 pixels; the expected value from the two bands directly:
    const pb = boundaryBand(Uint8Array.from(shifted), 64, 64, 2);
    const gb = boundaryBand(Uint8Array.from(a), 64, 64, 2);
    let inter = 0;
    let union = 0;
    for (let i = 0; i < 4096; i++) {
      inter += pb[i] & gb[i];
      union += pb[i] | gb[i];
    }
    relClose(biou, (inter + 1e-7) / (union + 1e-7));
    expect(biou).toBeLessThan(iou);
    expect(() => boundaryIou(a, a, 32, 64)).toThrow(/32×64/);
  });
});

describe('aggregateMetrics', () => {
  it('averages regions within an image first, then images; skips images without regions', () => {
    const agg = aggregateMetrics([
      [
        { iou: 1, dice: 1 },
        { iou: 0, dice: 0.2 },
      ],
      [{ iou: 0.5, dice: 0.6 }],
      [],
    ]);
    expect(agg).toEqual({ iou: 0.5, dice: 0.6, images: 2, regions: 3 });
    const withB = aggregateMetrics([
      [{ iou: 1, dice: 1, boundaryIou: 0.4 }],
      [{ iou: 0, dice: 0, boundaryIou: 0.2 }],
    ]);
    expect(withB.boundaryIou).toBeCloseTo(0.3, 12);
    expect(() => aggregateMetrics([[], []])).toThrow(/no regions/);
    expect(() => aggregateMetrics([[{ iou: NaN, dice: 1 }]])).toThrow(MetricsInputError);
  });
});
