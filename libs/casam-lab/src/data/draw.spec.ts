import { describe, expect, it } from 'vitest';
import { mulberry32 } from '@casam/casam-core';
import {
  blob,
  blur,
  circle,
  countMask,
  field,
  fractalNoise,
  gauss,
  maskOutline,
  offset,
  paint,
  shapeMask,
  shell,
  stroke,
  subtract,
  wanderPath,
} from './draw';

const size = { width: 64, height: 64 };

describe('draw primitives', () => {
  it('rasterises shapes to the expected areas', () => {
    expect(countMask(shapeMask(size, circle(32, 32, 10))) / (Math.PI * 100)).toBeCloseTo(1, 1);
    const ring = subtract(circle(32, 32, 12), circle(32, 32, 8));
    expect(countMask(shapeMask(size, ring)) / (Math.PI * (144 - 64))).toBeCloseTo(1, 1);
    expect(countMask(shapeMask(size, shell(circle(32, 32, 10), 2))) / (2 * Math.PI * 10 * 2)).toBeCloseTo(
      1,
      1,
    );
    expect(countMask(shapeMask(size, offset(circle(32, 32, 10), 3))) / (Math.PI * 169)).toBeCloseTo(1, 1);
    // A capsule: rectangle 40×6 plus two half discs.
    const cap = stroke(
      [
        [12, 32],
        [52, 32],
      ],
      6,
    );
    expect(countMask(shapeMask(size, cap)) / (40 * 6 + Math.PI * 9)).toBeCloseTo(1, 1);
    // Clipped at the border without error.
    expect(countMask(shapeMask(size, circle(0, 0, 10)))).toBeGreaterThan(70);
  });

  it('keeps wobbly blobs star-shaped around their centre and within their bounds', () => {
    const rng = mulberry32(4);
    for (let k = 0; k < 20; k++) {
      const b = blob({
        cx: 32,
        cy: 32,
        r: 12,
        aspect: 0.5 + rng(),
        angle: rng() * 3,
        wobble: [
          { amp: 0.2 * rng(), phase: rng() * 6 },
          { amp: 0.1 * rng(), phase: rng() * 6 },
        ],
      });
      expect(b.sdf(32, 32)).toBeLessThan(0);
      const m = shapeMask({ width: 96, height: 96 }, b);
      const [x0, y0, x1, y1] = b.bounds;
      m.forEach((v, i) => {
        if (!v) return;
        const x = i % 96;
        const y = Math.floor(i / 96);
        expect(x >= x0 && x < x1 && y >= y0 && y < y1).toBe(true);
      });
    }
  });

  it('paints with soft edges, modes and an optional mask that matches shapeMask', () => {
    const f = field(size, 0.2);
    const m = new Uint8Array(64 * 64);
    const c = circle(20, 20, 8);
    paint(f, size, c, 1, { soft: 3, mask: m });
    expect(m).toEqual(shapeMask(size, c));
    expect(f[20 * 64 + 20]).toBeCloseTo(1);
    expect(f[0]).toBeCloseTo(0.2);
    const edge = f[20 * 64 + 28];
    expect(edge).toBeGreaterThan(0.3);
    expect(edge).toBeLessThan(0.9);
    const g = field(size, 1);
    paint(g, size, c, 0.5, { mode: 'add' });
    expect(g[20 * 64 + 20]).toBeCloseTo(1.5);
    paint(g, size, c, 2, { mode: 'mul', opacity: 0.5 });
    expect(g[20 * 64 + 20]).toBeCloseTo(2.25);
  });

  it('noise is seeded, in range and smooth at its cell size', () => {
    const a = fractalNoise(size, mulberry32(1), { cell: 16 });
    expect(fractalNoise(size, mulberry32(1), { cell: 16 })).toEqual(a);
    expect(fractalNoise(size, mulberry32(2), { cell: 16 })).not.toEqual(a);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...a)).toBeLessThanOrEqual(1);
    let step = 0;
    for (let i = 1; i < a.length; i++) if (i % 64) step += Math.abs(a[i] - a[i - 1]);
    expect(step / a.length).toBeLessThan(0.05);
    const rot = fractalNoise(size, mulberry32(1), { cell: 16, angle: 0.7, stretch: 3 });
    expect(Math.max(...rot)).toBeLessThanOrEqual(1);
  });

  it('gauss is close to standard normal; blur keeps the mean', () => {
    const rng = mulberry32(9);
    const xs = Array.from({ length: 20000 }, () => gauss(rng));
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(sd).toBeCloseTo(1, 1);
    const f = fractalNoise(size, mulberry32(3), { cell: 4 });
    const m0 = f.reduce((a, b) => a + b, 0);
    blur(f, size, 2);
    expect(f.reduce((a, b) => a + b, 0) / m0).toBeCloseTo(1, 1);
  });

  it('outlines masks and walks seeded paths', () => {
    const m = shapeMask(size, circle(32, 32, 10));
    const o = maskOutline(m, size);
    expect(countMask(o)).toBeGreaterThan(40);
    expect(countMask(o)).toBeLessThan(80);
    expect(wanderPath(mulberry32(1), 0, 0, 0, 5, 2, 0.3)).toEqual(
      wanderPath(mulberry32(1), 0, 0, 0, 5, 2, 0.3),
    );
  });
});
