import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../random/seeded-random';
import { columnBlocks8, createSimdDense, simdDenseAvailable } from './simd-dense';

describe('WebAssembly SIMD dense kernel', () => {
  it('runs on this Node (the router relies on it for speed, not for correctness)', () => {
    expect(simdDenseAvailable()).toBe(true);
  });

  it('computes y = W·x + b and squared norms like float64 loops, at any aligned offsets and widths', () => {
    const rng = mulberry32(7);
    const k = createSimdDense(16)!;
    let worst = 0;
    for (const [inDim, outDim] of [
      [4, 4],
      [64, 128],
      [128, 64],
      [128, 128],
      [256, 64],
      [12, 20],
    ]) {
      const [wAt, bAt, xAt] = [8, 8 + inDim * outDim, 8 + inDim * outDim + outDim + 4];
      const yAt = xAt + inDim + 8;
      k.ensure(yAt + outDim);
      const m = k.f32;
      for (let i = wAt; i < xAt + inDim; i++) m[i] = rng() * 2 - 1;
      k.dense(wAt, bAt, xAt, yAt, inDim, outDim);
      for (let o = 0; o < outDim; o++) {
        let want = m[bAt + o];
        for (let i = 0; i < inDim; i++) want += m[wAt + o * inDim + i] * m[xAt + i];
        worst = Math.max(worst, Math.abs(m[yAt + o] - want));
      }
    }
    // Squared norms over channels of a [c, hw] block, added to what s holds.
    const [c, hw] = [5, 12];
    k.ensure(64 + c * hw);
    const m = k.f32;
    for (let i = 0; i < c * hw; i++) m[64 + i] = rng() - 0.5;
    for (let p = 0; p < hw; p++) m[32 + p] = 1;
    k.sumsq(64, 32, c, hw);
    for (let p = 0; p < hw; p++) {
      let want = 1;
      for (let ch = 0; ch < c; ch++) want += m[64 + ch * hw + p] ** 2;
      worst = Math.max(worst, Math.abs(m[32 + p] - want));
    }
    expect(worst).toBeLessThan(1e-5);
  });

  it('sums squared norms in channel order in float32, bit for bit, in blocks of 32 positions and the rest', () => {
    const rng = mulberry32(8);
    for (const [c, hw] of [
      [64, 256],
      [3, 268], // 8 blocks of 32 + 3 of 4
      [1, 36],
    ]) {
      const k = createSimdDense(8 + hw + c * hw)!;
      const m = k.f32;
      const [sAt, zAt] = [4, 8 + hw];
      for (let i = 0; i < c * hw; i++) m[zAt + i] = (rng() - 0.5) * 4;
      for (let p = 0; p < hw; p++) m[sAt + p] = p % 3;
      m[sAt + hw] = 7; // past the end: untouched
      const want = Array.from({ length: hw }, (_, p) => {
        let acc = p % 3;
        for (let ch = 0; ch < c; ch++) acc = Math.fround(acc + Math.fround(m[zAt + ch * hw + p] ** 2));
        return acc;
      });
      k.sumsq(zAt, sAt, c, hw);
      expect(Array.from(m.subarray(sAt, sAt + hw))).toEqual(want);
      expect(m[sAt + hw]).toBe(7);
    }
  });

  it('computes the pooling softmax of norms like float64 JS with Math.exp, rounded to float32', () => {
    const rng = mulberry32(10);
    let differ = 0;
    let total = 0;
    for (const [hw, c, t, spread] of [
      [256, 64, 1, 1],
      [1024, 64, 0.5, 3],
      [6, 3, 1e-3, 10], // weights down to e^(−hundreds): float32 zeros
      [2, 1, 2, 1],
    ]) {
      const k = createSimdDense(16 + 3 * hw)!;
      const m = k.f32;
      const [sAt, eAt] = [4, 8 + hw + (hw % 4 === 0 ? 0 : 2)];
      for (let p = 0; p < hw; p++) m[sAt + p] = (rng() * spread) ** 2 * c;
      // The reference: fast-router.ts's softmaxOfNorms with Math.exp, one running sum.
      const v = Array.from(m.subarray(sAt, sAt + hw), (x) => Math.sqrt(x) / c / t);
      const max = Math.max(...v);
      const e = v.map((x) => Math.exp(-(max - x)));
      const sum = e.reduce((a, b) => a + b, 0);
      const want = e.map((x) => Math.fround(x / sum));
      k.raw.softmax(sAt * 4, eAt * 4, hw, c, t);
      for (let p = 0; p < hw; p++) if (!Object.is(m[sAt + p], want[p])) differ++;
      total += hw;
    }
    // Another summation order and e^x's polynomial: a float32 weight may round the other way once in ~1e6.
    expect(differ).toBeLessThanOrEqual(1);
    expect(total).toBe(1288);
    // A NaN norm makes every weight NaN, as in JS.
    const k = createSimdDense(64)!;
    k.f32.set([1, NaN, 4, 9], 0);
    k.raw.softmax(0, 64, 4, 1, 1);
    expect(Array.from(k.f32.subarray(0, 4)).every(Number.isNaN)).toBe(true);
  });

  it('computes the same float32 results, bit for bit, with W in column blocks (densec)', () => {
    const rng = mulberry32(9);
    const k = createSimdDense(200000)!;
    const m = k.f32;
    for (let i = 0; i < 200000; i++) m[i] = rng() * 2 - 1;
    let differ = 0;
    for (const [inDim, outDim] of [
      [4, 8],
      [12, 16],
      [64, 1152],
      [128, 128],
      [64, 128],
      [128, 64],
    ]) {
      const [wAt, cAt, bAt, xAt, y1, y2] = [0, 80000, 160000, 170000, 180000, 190000];
      columnBlocks8(m, wAt, m, cAt, inDim, outDim);
      k.raw.dense(wAt * 4, bAt * 4, xAt * 4, y1 * 4, inDim, outDim);
      k.raw.densec(cAt * 4, bAt * 4, xAt * 4, y2 * 4, inDim, outDim);
      for (let o = 0; o < outDim; o++) if (!Object.is(m[y1 + o], m[y2 + o])) differ++;
    }
    expect(differ).toBe(0);
  });

  it('computes GELU in place exactly as the router’s float64 JS does, rounded to float32', () => {
    // The reference: exact GELU with erf by Abramowitz & Stegun 7.1.26 and Math.exp (host-math.ts's formula, kept
    // here with Math.exp as an independent check).
    const erf = (x: number) => {
      const ax = Math.abs(x);
      const t = 1 / (1 + 0.3275911 * ax);
      const y =
        1 -
        ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
          t *
          Math.exp(-ax * ax);
      return (x < 0 ? -1 : 1) * y;
    };
    const rng = mulberry32(11);
    const n = 20000;
    const k = createSimdDense(n + 8)!;
    const m = k.f32;
    for (let i = 0; i < n; i++) m[4 + i] = (rng() - 0.5) * (i < 2000 ? 60 : 8);
    [0, -0, 40, -40, 1e-30, -1e-30, 3e38, -3e38].forEach((v, i) => (m[4 + i] = v));
    m[2] = 7; // outside the range: untouched
    m[4 + n] = 7;
    const want = Array.from(m.subarray(4, 4 + n), (x) => Math.fround(0.5 * x * (1 + erf(x * Math.SQRT1_2))));
    k.raw.gelu(16, n);
    let differ = 0;
    for (let i = 0; i < n; i++) if (!Object.is(m[4 + i], want[i])) differ++;
    expect(differ).toBe(0);
    expect([m[2], m[4 + n]]).toEqual([7, 7]);
  });

  it('computes a TaskVAE score (reconstruction error + β·KL) like float64 JS with Math.exp', () => {
    // The reference: fast-router.ts's float64 maths with Math.exp, one running sum each.
    const want = (x: Float32Array, y: Float32Array, mu: Float32Array, lv: Float32Array, beta: number) => {
      let recon = 0;
      for (let i = 0; i < x.length; i++) recon += (y[i] - x[i]) ** 2;
      let kl = 0;
      for (let i = 0; i < mu.length; i++) kl += 1 + lv[i] - mu[i] * mu[i] - Math.exp(lv[i]);
      return recon / x.length + beta * (-0.5 * kl);
    };
    const rng = mulberry32(13);
    const k = createSimdDense(4096)!;
    const m = k.f32;
    const [xAt, yAt, mlAt] = [0, 512, 1024];
    let worst = 0;
    const edge: number[] = [];
    for (let trial = 0; trial < 200; trial++) {
      const [c, l] = [
        [4, 4],
        [64, 64],
        [128, 16],
        [12, 8],
      ][trial % 4];
      const spread = 0.1 + (trial % 7);
      for (let i = 0; i < c; i++) [m[xAt + i], m[yAt + i]] = [rng() - 0.5, (rng() - 0.5) * spread];
      for (let i = 0; i < 2 * l; i++) m[mlAt + i] = (rng() - 0.5) * spread * (i < l ? 1 : 6);
      // Edge values of logvar: beyond e^x's float64 range, at its caps, and not finite.
      const special = [NaN, Infinity, -Infinity, 720, 705, -705, -800, 0];
      if (trial >= 192) m[mlAt + l + (trial % l)] = special[trial - 192];
      const beta = trial % 3 === 0 ? 0 : 0.5 + trial / 100;
      const got = k.raw.score(xAt * 4, yAt * 4, mlAt * 4, c, l, beta);
      const ref = want(
        m.subarray(xAt, xAt + c),
        m.subarray(yAt, yAt + c),
        m.subarray(mlAt, mlAt + l),
        m.subarray(mlAt + l, mlAt + 2 * l),
        beta,
      );
      if (trial < 192) worst = Math.max(worst, Math.abs(got - ref) / Math.abs(ref));
      else {
        // Edges: the same float32 score as the router reports (e^x is capped at e^±708 inside the kernel).
        edge.push(ref);
        const [a, b] = [Math.fround(got), Math.fround(ref)];
        expect(
          Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)),
          `logvar ${special[trial - 192]}`,
        ).toBe(true);
      }
    }
    // Sums in two lanes and e^x by a polynomial: a few ulps of float64 from the JS sums, never a float32 ulp.
    expect(worst).toBeLessThan(1e-13);
    expect(edge.filter((v) => !Number.isFinite(Math.fround(v))).length).toBeGreaterThan(4);
  });

  it('refuses widths and offsets it cannot run, and traps outside its memory', () => {
    const k = createSimdDense(64)!;
    expect(() => k.dense(0, 0, 0, 0, 6, 4)).toThrow(RangeError);
    expect(() => k.dense(0, 0, 0, 0, 8, 3)).toThrow(RangeError);
    expect(() => k.dense(2, 0, 0, 0, 8, 4)).toThrow(RangeError);
    expect(() => k.sumsq(0, 0, 1, 6)).toThrow(RangeError);
    expect(() => k.dense(0, 0, 0, 0, 64 * 1024, 4)).toThrow(/out of bounds/);
  });
});
