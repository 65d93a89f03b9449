import { describe, expect, it } from 'vitest';
import { createRng } from '../random/seeded-random';
import { ResizeLongestSide } from '../sam/transforms';
import {
  DEFAULT_BOX_JITTER,
  MaskRef,
  downsampleMask,
  jitterBound,
  jitterBox,
  maskBoundingBox,
  maskToInputFrame,
  resolvePromptSamplerOptions,
  samplePointsInMask,
  samplePromptBatch,
  toModelFrame,
} from './prompt-sampler';
import { TrainerInputError } from './trainer-errors';

/** An ellipse mask on a w×h image. */
function ellipse(w: number, h: number, cx: number, cy: number, rx: number, ry: number): MaskRef {
  const mask = new Uint8Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) if (((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1) mask[y * w + x] = 1;
  return { mask, width: w, height: h };
}

describe('prompt sampler', () => {
  it('tight box sits on the extreme foreground pixels; empty masks have none', () => {
    const m = ellipse(40, 30, 20, 12, 6, 4);
    expect(maskBoundingBox(m)).toEqual([14, 8, 26, 16]);
    expect(maskBoundingBox({ mask: new Uint8Array(12), width: 4, height: 3 })).toBeNull();
    expect(() => maskBoundingBox({ mask: new Uint8Array(5), width: 4, height: 3 })).toThrow(
      TrainerInputError,
    );
  });

  it('unjittered boxes contain the mask; jittered sides move at most the bound and stay in the image', () => {
    const rng = createRng(7);
    const noJitter = { fraction: 0, maxPixels: 0 };
    for (let t = 0; t < 200; t++) {
      const w = 30 + Math.floor(rng() * 200);
      const h = 30 + Math.floor(rng() * 200);
      const m = ellipse(w, h, rng() * w, rng() * h, 2 + rng() * w * 0.4, 2 + rng() * h * 0.4);
      const tight = maskBoundingBox(m);
      if (!tight) continue;
      const [x0, y0, x1, y1] = jitterBox(tight, w, h, rng, noJitter);
      let outside = 0;
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          if (m.mask[y * w + x] && !(x >= x0 && x <= x1 && y >= y0 && y <= y1)) outside++;
      expect(outside).toBe(0);
      const j = jitterBox(tight, w, h, rng, DEFAULT_BOX_JITTER);
      const bx = jitterBound(tight[2] - tight[0] + 1, DEFAULT_BOX_JITTER);
      const by = jitterBound(tight[3] - tight[1] + 1, DEFAULT_BOX_JITTER);
      expect(bx).toBeLessThanOrEqual(DEFAULT_BOX_JITTER.maxPixels);
      for (const [i, b] of [
        [0, bx],
        [1, by],
        [2, bx],
        [3, by],
      ] as const)
        expect(Math.abs(j[i] - tight[i])).toBeLessThanOrEqual(b + 1e-9);
      expect(j[0]).toBeGreaterThanOrEqual(0);
      expect(j[1]).toBeGreaterThanOrEqual(0);
      expect(j[2]).toBeLessThanOrEqual(w - 1);
      expect(j[3]).toBeLessThanOrEqual(h - 1);
      expect(j[2]).toBeGreaterThanOrEqual(j[0]);
      expect(j[3]).toBeGreaterThanOrEqual(j[1]);
    }
  });

  it('jitter is capped in pixels on large boxes and actually moves the sides', () => {
    const box: [number, number, number, number] = [100, 100, 899, 899];
    const rng = createRng(3);
    let moved = 0;
    for (let t = 0; t < 100; t++) {
      const j = jitterBox(box, 1000, 1000, rng, DEFAULT_BOX_JITTER);
      for (let i = 0; i < 4; i++) {
        expect(Math.abs(j[i] - box[i])).toBeLessThanOrEqual(10);
        if (Math.abs(j[i] - box[i]) > 5) moved++;
      }
    }
    expect(moved).toBeGreaterThan(100); // about half of 400 sides move by more than half the cap
  });

  it('points fall inside the mask, distinct while possible', () => {
    const rng = createRng(11);
    const m = ellipse(64, 48, 30, 20, 9, 5);
    for (let t = 0; t < 50; t++) {
      const pts = samplePointsInMask(m, 1 + (t % 5), rng);
      expect(pts).toHaveLength(1 + (t % 5));
      expect(new Set(pts.map((p) => p.join())).size).toBe(pts.length);
      for (const [x, y] of pts) expect(m.mask[y * 64 + x]).toBe(1);
    }
    const one = { mask: Uint8Array.from([0, 1, 0, 0]), width: 2, height: 2 };
    expect(samplePointsInMask(one, 3, rng)).toEqual([
      [1, 0],
      [1, 0],
      [1, 0],
    ]);
    expect(() => samplePointsInMask({ mask: new Uint8Array(4), width: 2, height: 2 }, 1, rng)).toThrow(
      /empty mask/,
    );
  });

  it('batches are box-only or points-only, about 50/50, with 1..maxPoints points per batch', () => {
    const opts = resolvePromptSamplerOptions({ maxPoints: 3 });
    const regions = [ellipse(50, 50, 20, 20, 8, 8), ellipse(50, 50, 30, 25, 5, 9)];
    const rng = createRng(5);
    let boxes = 0;
    const counts = new Set<number>();
    const N = 2000;
    for (let t = 0; t < N; t++) {
      const b = samplePromptBatch(regions, rng, opts);
      expect(b.prompts).toHaveLength(2);
      expect(b.prompts.every((p) => p.kind === b.kind)).toBe(true);
      if (b.kind === 'box') boxes++;
      else {
        counts.add(b.pointsPerPrompt);
        for (const p of b.prompts) if (p.kind === 'points') expect(p.points).toHaveLength(b.pointsPerPrompt);
      }
    }
    expect(Math.abs(boxes / N - 0.5)).toBeLessThan(0.04);
    expect([...counts].sort()).toEqual([1, 2, 3]);
    const onlyBoxes = resolvePromptSamplerOptions({ boxProbability: 1 });
    expect(samplePromptBatch(regions, rng, onlyBoxes).kind).toBe('box');
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const opts = resolvePromptSamplerOptions();
    const regions = [ellipse(80, 60, 40, 30, 12, 9), ellipse(80, 60, 20, 20, 6, 6)];
    const run = (seed: number): unknown => {
      const rng = createRng(seed);
      return Array.from({ length: 10 }, () => samplePromptBatch(regions, rng, opts));
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
  });

  it('maps prompts to the model frame with ResizeLongestSide', () => {
    const opts = resolvePromptSamplerOptions({ boxProbability: 1 });
    const m = ellipse(200, 100, 100, 50, 30, 20);
    const b = samplePromptBatch([m], createRng(1), opts);
    const f = toModelFrame(b, [[100, 200]], 256);
    const t = new ResizeLongestSide(256);
    if (b.prompts[0].kind !== 'box') throw new Error('expected a box');
    expect(Array.from(f.boxes!)).toEqual(
      Array.from(Float32Array.from(t.applyBoxes([b.prompts[0].box], [100, 200])[0])),
    );
    expect(f.boxes![2]).toBeCloseTo(b.prompts[0].box[2] * 1.28, 4);
    const p = samplePromptBatch(
      [m],
      createRng(2),
      resolvePromptSamplerOptions({ boxProbability: 0, maxPoints: 2 }),
    );
    const fp = toModelFrame(p, [[100, 200]], 256);
    expect(fp.coords!.length).toBe(2 * p.pointsPerPrompt);
    expect(Array.from(fp.labels!)).toEqual(new Array(p.pointsPerPrompt).fill(1));
  });

  it('masks go to the padded input frame and down to the low-res frame', () => {
    const m = ellipse(200, 100, 100, 50, 30, 20); // → 256 × 128, padded below
    const full = maskToInputFrame(m, 256);
    expect(full.length).toBe(256 * 256);
    let area = 0;
    for (let y = 0; y < 256; y++)
      for (let x = 0; x < 256; x++) {
        area += full[y * 256 + x];
        if (y >= 128) expect(full[y * 256 + x]).toBe(0);
      }
    const orig = m.mask.reduce((a, b) => a + b, 0);
    expect(area / (orig * 1.28 * 1.28)).toBeGreaterThan(0.95);
    expect(area / (orig * 1.28 * 1.28)).toBeLessThan(1.05);
    expect(full[64 * 256 + 128]).toBe(1); // the centre (50, 100) · 1.28
    const low = downsampleMask(full, 256, 4);
    expect(low.length).toBe(64 * 64);
    expect(Math.abs(low.reduce((a, b) => a + b, 0) * 16 - area) / area).toBeLessThan(0.1);
    expect(() => downsampleMask(full, 256, 3)).toThrow(TrainerInputError);
  });

  it('rejects options out of range', () => {
    expect(() => resolvePromptSamplerOptions({ maxPoints: 0 })).toThrow(TrainerInputError);
    expect(() => resolvePromptSamplerOptions({ boxProbability: 1.5 })).toThrow(TrainerInputError);
    expect(() => resolvePromptSamplerOptions({ boxJitter: { fraction: -0.1 } })).toThrow(TrainerInputError);
  });
});
