import { SeededRng } from '@casam/casam-core';
import { describe, expect, it } from 'vitest';
import { maskBox } from './generic-corpus';
import {
  RealImage,
  connectedComponents,
  createRealCorpus,
  histogramThresholds,
  mixCorpora,
} from './real-corpus';

/** A 200×160 grey image: dark background, two bright discs and a mid-grey bar, with noise. */
function phantom(seed: number): RealImage {
  const w = 200;
  const h = 160;
  const rng = new SeededRng(seed);
  const data = new Uint8Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let v = 30;
      if ((x - 60) ** 2 + (y - 60) ** 2 < 30 ** 2) v = 220;
      if ((x - 140) ** 2 + (y - 100) ** 2 < 22 ** 2) v = 200;
      if (y > 125 && y < 145 && x > 20 && x < 180) v = 120;
      data[y * w + x] = Math.max(0, Math.min(255, Math.round(v + 6 * rng.normal())));
    }
  return { id: `phantom-${seed}`, width: w, height: h, channels: 1, data };
}

describe('histogramThresholds', () => {
  it('puts the threshold of a two-level image between the levels', () => {
    const v = new Float32Array(1000).map((_, i) => (i < 600 ? 40 : 200));
    const t = histogramThresholds(v, 2, new SeededRng(1));
    expect(t).toHaveLength(1);
    expect(t[0]).toBeGreaterThan(40);
    expect(t[0]).toBeLessThan(200);
  });

  it('gives no threshold for a constant image', () => {
    expect(histogramThresholds(new Float32Array(100).fill(7), 3, new SeededRng(1))).toEqual([]);
  });
});

describe('connectedComponents', () => {
  it('separates equal labels that do not touch (4-connectivity)', () => {
    // 1 0 1
    // 0 1 0
    // 1 0 1   → every pixel touches its equals only diagonally: nine components.
    const labels = Uint8Array.from([1, 0, 1, 0, 1, 0, 1, 0, 1]);
    const { sizes } = connectedComponents(labels, 3);
    expect(sizes).toHaveLength(9);
    expect(connectedComponents(new Uint8Array(9), 3).sizes).toEqual([9]);
  });
});

describe('createRealCorpus', () => {
  const images = [phantom(1), phantom(2)];
  const corpus = createRealCorpus({ seed: 5, images, targetsPerImage: 3 });

  it('is a pure function of (seed, index)', () => {
    const a = corpus.sample(4);
    const b = createRealCorpus({ seed: 5, images, targetsPerImage: 3 }).sample(4);
    expect(Buffer.from(a.image).equals(Buffer.from(b.image))).toBe(true);
    expect(a.targets.map((t) => t.bbox)).toEqual(b.targets.map((t) => t.bbox));
    expect(Buffer.from(corpus.sample(5).image).equals(Buffer.from(a.image))).toBe(false);
  });

  it('gives 256-px RGB crops whose targets are single connected regions of sensible size', () => {
    for (let i = 0; i < 12; i++) {
      const s = corpus.sample(i);
      expect(s.size).toBe(256);
      expect(s.image.length).toBe(256 * 256 * 3);
      expect(s.targets).toHaveLength(3);
      for (const t of s.targets) {
        expect(t.shape).toBe('real-region');
        expect(t.area).toBeGreaterThanOrEqual(128);
        expect(t.area).toBeLessThanOrEqual(0.5 * 256 * 256);
        expect(maskBox(t.mask, 256)).toEqual({ bbox: t.bbox, area: t.area });
        // The mask's foreground is one 4-connected component.
        const { comp } = connectedComponents(t.mask, 256);
        const fg = new Set<number>();
        for (let p = 0; p < t.mask.length; p++) if (t.mask[p]) fg.add(comp[p]);
        expect(fg.size).toBe(1);
      }
    }
  });

  it('finds the phantom discs: some target of a full view is a bright, compact region', () => {
    let found = false;
    for (let i = 0; i < 30 && !found; i++) {
      const s = corpus.sample(i);
      for (const t of s.targets) {
        const [x0, y0, x1, y1] = t.bbox;
        const fill = t.area / ((x1 - x0 + 1) * (y1 - y0 + 1));
        let sum = 0;
        for (let p = 0; p < t.mask.length; p++) if (t.mask[p]) sum += s.image[3 * p];
        if (fill > 0.7 && sum / t.area > 150) found = true;
      }
    }
    expect(found).toBe(true);
  });

  it('refuses images whose data does not fit their size', () => {
    expect(() => createRealCorpus({ seed: 1, images: [{ ...phantom(1), width: 199 }] })).toThrow(
      /phantom-1: 199×160×1 does not fit/,
    );
    expect(() => createRealCorpus({ seed: 1, images: [] })).toThrow(/at least one image/);
  });
});

describe('mixCorpora', () => {
  it('draws about the requested share from the real corpus, the same way every time', () => {
    const tag = (name: string) => ({
      sample: (i: number) => ({
        index: i,
        size: 1,
        image: new Uint8Array([name === 'real' ? 1 : 0]),
        targets: [],
      }),
    });
    const mixed = mixCorpora(9, tag('generic'), tag('real'), 0.3);
    const real = Array.from({ length: 2000 }, (_, i) => mixed.sample(i).image[0]).reduce((a, b) => a + b, 0);
    expect(real / 2000).toBeGreaterThan(0.25);
    expect(real / 2000).toBeLessThan(0.35);
    expect(mixed.sample(17).image[0]).toBe(
      mixCorpora(9, tag('generic'), tag('real'), 0.3).sample(17).image[0],
    );
  });
});
