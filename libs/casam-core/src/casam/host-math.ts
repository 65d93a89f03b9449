/**
 * Scalar float64 math of the host-side TaskVAE code (the fast router's scores, task-vae-host.ts's training):
 * exact GELU through an erf accurate far below float32 resolution, and a table-based e^x about twice as fast as
 * V8's Math.exp. Hand-written because JavaScript has no erf, and GELU's exponentials are most of its cost.
 */

/** Exact GELU, x·½·(1 + erf(x/√2)), as layers.ts computes it. */
export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x * Math.SQRT1_2));
}

/**
 * erf by Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7), the formula TF.js's CPU kernel uses: far below
 * float32 resolution of the scores it feeds, and the cheapest accurate-enough form. Its e^(−x²) is expNeg's.
 */
export function erf(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const ax = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * ax);
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      expNeg(ax * ax);
  return sign * y;
}

/** e^v by expNeg: e^(−(−v)) for v ≤ 0, 1/e^(−v) above (one more rounding, ~1e-16 relative). */
export function expOf(v: number): number {
  return v <= 0 ? expNeg(-v) : 1 / expNeg(v);
}

/** e^(−k) for k = 0…EXP_TABLE_MAX and e^(−j/256) for j < 256: expNeg's tables. */
const EXP_TABLE_MAX = 80;
const EXP_INT = Float64Array.from({ length: EXP_TABLE_MAX + 1 }, (_, k) => Math.exp(-k));
const EXP_FRAC = Float64Array.from({ length: 256 }, (_, j) => Math.exp(-j / 256));

/**
 * e^(−u) for u ≥ 0 (NaN stays NaN), within 5e-16 relative of Math.exp(−u), about twice as fast in V8 (whose
 * Math.exp is a call into fdlibm, most of GELU's cost): u = k + j/256 + r with r < 1/256, e^(−u) =
 * e^(−k)·e^(−j/256)·e^(−r) from two tables and a degree-5 Taylor polynomial (its error (1/256)⁶/720 ≈ 5e-18).
 * u ≥ 80 (e^(−u) < 2e-35) goes to Math.exp.
 */
export function expNeg(u: number): number {
  if (!(u < EXP_TABLE_MAX)) return Math.exp(-u);
  const i = (u * 256) | 0;
  const r = u - i * (1 / 256);
  const p = 1 - r * (1 - r * (0.5 - r * (1 / 6 - r * (1 / 24 - r * (1 / 120)))));
  return EXP_INT[i >> 8] * EXP_FRAC[i & 255] * p;
}
