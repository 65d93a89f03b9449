/**
 * Drawing primitives for the synthetic domains: seeded random helpers, shapes as signed distance functions,
 * rasterising and painting into float fields, value noise, blurs, noise models and stain/absorption colour.
 *
 * Everything works on flat row-major fields of one size (`Float32Array` for intensities and densities,
 * `Uint8Array` 0/1 for masks), so scenes compose with plain loops and stay fast (a 256² scene is a few ms).
 */
import { type Rng, RgbImage } from '@casam/casam-core';

/** A seeded source of floats in [0, 1) (casam-core's `mulberry32`). */
export type { Rng };

export interface Size {
  width: number;
  height: number;
}

export type Rgb = readonly [number, number, number];

// ---------------------------------------------------------------- random helpers

export const uniform = (rng: Rng, lo: number, hi: number): number => lo + (hi - lo) * rng();

/** Integer in [lo, hi] inclusive. */
export const randInt = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));

/** √(x² + y²): Math.hypot is several times slower and this runs per pixel. */
export const dist = (x: number, y: number): number => Math.sqrt(x * x + y * y);

export const chance = (rng: Rng, p: number): boolean => rng() < p;

export const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];

/** 4096 standard-normal quantiles, built once by integrating the density (no randomness, same everywhere). */
const NORMAL_TABLE = ((): Float32Array => {
  const n = 4096;
  const t = new Float32Array(n);
  const dx = 1e-3;
  let cdf = 0;
  let k = 0;
  for (let x = -6; x <= 6 && k < n; x += dx) {
    cdf += Math.exp(-0.5 * (x + dx / 2) ** 2) * 0.3989422804 * dx;
    while (k < n && cdf >= (k + 0.5) / n) t[k++] = x + dx;
  }
  while (k < n) t[k++] = 6;
  return t;
})();

/** Standard normal sample from one rng call (a quantile table): noise over every pixel must be cheap. */
export const gauss = (rng: Rng): number => NORMAL_TABLE[(rng() * 4096) | 0];

// ---------------------------------------------------------------- shapes

/** Pixel bounds [x0, y0, x1, y1] (inclusive-exclusive, may exceed the image; clipped when drawn). */
export type Bounds = readonly [number, number, number, number];

/** A region: negative inside, roughly the distance to the edge in pixels (exact for circles). */
export interface Shape {
  bounds: Bounds;
  sdf(x: number, y: number): number;
}

export interface BlobSpec {
  cx: number;
  cy: number;
  /** Mean radius in pixels. */
  r: number;
  /** Rotation in radians. */
  angle?: number;
  /** Height/width ratio of the underlying ellipse. */
  aspect?: number;
  /** Radius wobble: r(θ) = r·(1 + Σ amp_k·cos(kθ + phase_k)), k = 2, 3, … */
  wobble?: readonly { amp: number; phase: number }[];
}

/** A star-shaped blob: an ellipse with a wobbly radius. The work-horse of every scene. */
export function blob(spec: BlobSpec): Shape {
  const { cx, cy, r } = spec;
  const angle = spec.angle ?? 0;
  const aspect = spec.aspect ?? 1;
  const wobble = spec.wobble ?? [];
  const ca = Math.cos(angle);
  const sa = Math.sin(angle);
  let reach = 1;
  for (const w of wobble) reach += Math.abs(w.amp);
  const ext = r * reach * Math.max(1, aspect) + 2;
  const minScale = Math.min(1, aspect);
  // amp·cos(kθ + φ) = (amp·cos φ)·cos kθ − (amp·sin φ)·sin kθ, with cos kθ, sin kθ by recurrence from
  // cos θ, sin θ: no atan2 or cos per pixel (this sdf is the hottest loop of every scene).
  const n = wobble.length;
  const ac = new Float64Array(n);
  const as = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    ac[k] = wobble[k].amp * Math.cos(wobble[k].phase);
    as[k] = wobble[k].amp * Math.sin(wobble[k].phase);
  }
  return {
    bounds: [Math.floor(cx - ext), Math.floor(cy - ext), Math.ceil(cx + ext), Math.ceil(cy + ext)],
    sdf(x, y) {
      const dx = x - cx;
      const dy = y - cy;
      const u = dx * ca + dy * sa;
      const v = (-dx * sa + dy * ca) / aspect;
      const rho = Math.sqrt(u * u + v * v);
      let rad = r;
      if (n > 0 && rho > 1e-9) {
        const c1 = u / rho;
        const s1 = v / rho;
        // Start at k = 2.
        let c = c1 * c1 - s1 * s1;
        let sn = 2 * s1 * c1;
        let f = 1;
        for (let k = 0; k < n; k++) {
          f += ac[k] * c - as[k] * sn;
          const c2 = c * c1 - sn * s1;
          sn = sn * c1 + c * s1;
          c = c2;
        }
        rad = r * f;
      }
      return (rho - rad) * minScale;
    },
  };
}

export function ellipse(cx: number, cy: number, rx: number, ry: number, angle = 0): Shape {
  return blob({ cx, cy, r: rx, aspect: ry / rx, angle });
}

export function circle(cx: number, cy: number, r: number): Shape {
  return blob({ cx, cy, r });
}

/** Random wobble coefficients: `irregularity` ≈ relative radius deviation, decaying with frequency. */
export function randomWobble(
  rng: Rng,
  irregularity: number,
  harmonics = 4,
): { amp: number; phase: number }[] {
  const out: { amp: number; phase: number }[] = [];
  for (let k = 0; k < harmonics; k++)
    out.push({ amp: (irregularity * uniform(rng, 0.3, 1)) / (k + 1), phase: uniform(rng, 0, 2 * Math.PI) });
  return out;
}

/** A thick polyline (capsules between points); width may vary per point (tapering vessels, roots, hair). */
export function stroke(
  points: readonly (readonly [number, number])[],
  widths: number | readonly number[],
): Shape {
  const n = points.length;
  if (n < 2) throw new Error('stroke needs at least two points');
  const w = (i: number) => (typeof widths === 'number' ? widths : widths[i]) / 2;
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let i = 0; i < n; i++) {
    const [px, py] = points[i];
    const r = w(i) + 2;
    x0 = Math.min(x0, px - r);
    y0 = Math.min(y0, py - r);
    x1 = Math.max(x1, px + r);
    y1 = Math.max(y1, py + r);
  }
  // Per-segment boxes (grown by the segment's larger half-width) let the sdf skip segments that cannot be
  // closer than the best so far: long wandering paths (vessels, hairs) would otherwise cost every segment.
  const boxes = new Float64Array(4 * (n - 1));
  for (let i = 0; i + 1 < n; i++) {
    const r = Math.max(w(i), w(i + 1));
    boxes[4 * i] = Math.min(points[i][0], points[i + 1][0]) - r;
    boxes[4 * i + 1] = Math.min(points[i][1], points[i + 1][1]) - r;
    boxes[4 * i + 2] = Math.max(points[i][0], points[i + 1][0]) + r;
    boxes[4 * i + 3] = Math.max(points[i][1], points[i + 1][1]) + r;
  }
  return {
    bounds: [Math.floor(x0), Math.floor(y0), Math.ceil(x1), Math.ceil(y1)],
    sdf(x, y) {
      let best = Infinity;
      for (let i = 0; i + 1 < n; i++) {
        const lb = Math.max(
          boxes[4 * i] - x,
          x - boxes[4 * i + 2],
          boxes[4 * i + 1] - y,
          y - boxes[4 * i + 3],
        );
        if (lb >= best) continue;
        const [ax, ay] = points[i];
        const [bx, by] = points[i + 1];
        const ex = bx - ax;
        const ey = by - ay;
        const len2 = ex * ex + ey * ey || 1e-9;
        const t = Math.max(0, Math.min(1, ((x - ax) * ex + (y - ay) * ey) / len2));
        const qx = ax + t * ex - x;
        const qy = ay + t * ey - y;
        const d = Math.sqrt(qx * qx + qy * qy) - (w(i) * (1 - t) + w(i + 1) * t);
        if (d < best) best = d;
      }
      return best;
    },
  };
}

function unionBounds(a: Bounds, b: Bounds): Bounds {
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])];
}

export function union(...shapes: Shape[]): Shape {
  return {
    bounds: shapes.map((s) => s.bounds).reduce(unionBounds),
    sdf(x, y) {
      let d = Infinity;
      for (const s of shapes) d = Math.min(d, s.sdf(x, y));
      return d;
    },
  };
}

/** `a` without `b`. */
export function subtract(a: Shape, b: Shape): Shape {
  return { bounds: a.bounds, sdf: (x, y) => Math.max(a.sdf(x, y), -b.sdf(x, y)) };
}

export function intersect(a: Shape, b: Shape): Shape {
  return {
    bounds: [
      Math.max(a.bounds[0], b.bounds[0]),
      Math.max(a.bounds[1], b.bounds[1]),
      Math.min(a.bounds[2], b.bounds[2]),
      Math.min(a.bounds[3], b.bounds[3]),
    ],
    sdf: (x, y) => Math.max(a.sdf(x, y), b.sdf(x, y)),
  };
}

/** Grows (d > 0) or shrinks (d < 0) a shape by d pixels. */
export function offset(s: Shape, d: number): Shape {
  const g = Math.ceil(Math.max(0, d)) + 1;
  const [x0, y0, x1, y1] = s.bounds;
  return { bounds: [x0 - g, y0 - g, x1 + g, y1 + g], sdf: (x, y) => s.sdf(x, y) - d };
}

/** The band of width `t` centred on the shape's edge (membranes, capsules, walls). */
export function shell(s: Shape, t: number): Shape {
  const g = Math.ceil(t) + 1;
  const [x0, y0, x1, y1] = s.bounds;
  return { bounds: [x0 - g, y0 - g, x1 + g, y1 + g], sdf: (x, y) => Math.abs(s.sdf(x, y)) - t / 2 };
}

/** A smooth random path: `steps` segments of `stepLen` px, heading drifting by up to `bend` rad per step. */
export function wanderPath(
  rng: Rng,
  x: number,
  y: number,
  heading: number,
  steps: number,
  stepLen: number,
  bend: number,
): [number, number][] {
  const pts: [number, number][] = [[x, y]];
  let h = heading;
  let turn = 0;
  for (let i = 0; i < steps; i++) {
    turn = 0.6 * turn + uniform(rng, -bend, bend);
    h += turn;
    x += Math.cos(h) * stepLen;
    y += Math.sin(h) * stepLen;
    pts.push([x, y]);
  }
  return pts;
}

// ---------------------------------------------------------------- rasterising and painting

function clipBounds(size: Size, b: Bounds): Bounds {
  return [
    Math.max(0, Math.floor(b[0])),
    Math.max(0, Math.floor(b[1])),
    Math.min(size.width, Math.ceil(b[2])),
    Math.min(size.height, Math.ceil(b[3])),
  ];
}

const TILE = 8;
/** Twice a tile's half-diagonal: sdfs here are only roughly distances (wobble, aspect, vertical bands). */
const TILE_REACH = TILE * Math.SQRT2;

/**
 * Visits every pixel within `band` px of the shape or inside it, with its sdf at the pixel centre. Tiles far
 * inside are visited with −Infinity and tiles far outside skipped after one sdf at their centre, so big
 * shapes cost about one sdf per tile instead of one per pixel.
 */
export function scan(
  size: Size,
  shape: Shape,
  band: number,
  visit: (i: number, d: number) => void,
  /** Visit deep-inside tiles with their true sdf too (for painters that vary with depth, e.g. an inset lumen). */
  exact = false,
): void {
  const pad = Math.ceil(band) + 1;
  const [bx0, by0, bx1, by1] = shape.bounds;
  const [x0, y0, x1, y1] = clipBounds(size, [bx0 - pad, by0 - pad, bx1 + pad, by1 + pad]);
  const w = size.width;
  const reach = TILE_REACH + band;
  for (let ty = y0; ty < y1; ty += TILE) {
    const ty1 = Math.min(y1, ty + TILE);
    for (let tx = x0; tx < x1; tx += TILE) {
      const tx1 = Math.min(x1, tx + TILE);
      const dc = shape.sdf((tx + tx1) / 2, (ty + ty1) / 2);
      if (dc > reach) continue;
      const deep = !exact && dc < -reach;
      for (let y = ty; y < ty1; y++)
        for (let x = tx; x < tx1; x++) visit(y * w + x, deep ? -Infinity : shape.sdf(x + 0.5, y + 0.5));
    }
  }
}

/** Sets mask pixels whose centre lies inside the shape (the same rule `paint` uses for alpha ≥ ½). */
export function fillMask(mask: Uint8Array, size: Size, shape: Shape, value = 1): Uint8Array {
  scan(size, shape, 0, (i, d) => {
    if (d <= 0) mask[i] = value;
  });
  return mask;
}

export function shapeMask(size: Size, shape: Shape): Uint8Array {
  return fillMask(new Uint8Array(size.width * size.height), size, shape);
}

export type PaintMode = 'over' | 'add' | 'max' | 'min' | 'mul';

export interface PaintOptions {
  /** 'over' blends towards the value, 'add' adds value·alpha (densities), 'mul' scales by 1 + (v−1)·alpha. */
  mode?: PaintMode;
  opacity?: number;
  /** Edge width in px: alpha = clamp(½ − sdf/soft). Large values give fuzzy, low-contrast borders. */
  soft?: number;
  /** Also marks the painted shape (sdf ≤ 0) here, saving a second pass over it. */
  mask?: Uint8Array;
}

/** Paints a constant or a per-pixel field (same size) into `field` inside `shape`. */
export function paint(
  field: Float32Array,
  size: Size,
  shape: Shape,
  value: number | Float32Array,
  opts: PaintOptions = {},
): void {
  const mode = opts.mode ?? 'over';
  const opacity = opts.opacity ?? 1;
  const soft = Math.max(1e-3, opts.soft ?? 1);
  const mask = opts.mask;
  scan(size, shape, soft / 2, (i, d) => {
    if (mask && d <= 0) mask[i] = 1;
    let a = 0.5 - d / soft;
    if (a <= 0) return;
    if (a > 1) a = 1;
    a *= opacity;
    const v = typeof value === 'number' ? value : value[i];
    switch (mode) {
      case 'over':
        field[i] += (v - field[i]) * a;
        break;
      case 'add':
        field[i] += v * a;
        break;
      case 'max':
        field[i] = Math.max(field[i], field[i] + (v - field[i]) * a);
        break;
      case 'min':
        field[i] = Math.min(field[i], field[i] + (v - field[i]) * a);
        break;
      case 'mul':
        field[i] *= 1 + (v - 1) * a;
        break;
    }
  });
}

// ---------------------------------------------------------------- fields

export function field(size: Size, fill = 0): Float32Array {
  return new Float32Array(size.width * size.height).fill(fill);
}

export interface NoiseOptions {
  /** Size of the coarsest lattice cell in px. */
  cell: number;
  octaves?: number;
  /** Amplitude ratio between octaves. */
  gain?: number;
  /** Rotation of the lattice (radians) and stretch along it (> 1: fibres, streaks). */
  angle?: number;
  stretch?: number;
}

const LATTICE = 64;

/**
 * Fractal value noise in about [0, 1] (mean ½): smoothstep-interpolated random lattices, octave cells halving.
 * The lattice wraps every 64 cells; with random offsets per octave the repeat is not visible.
 */
export function fractalNoise(size: Size, rng: Rng, opts: NoiseOptions): Float32Array {
  const { width, height } = size;
  const out = new Float32Array(width * height);
  const octaves = opts.octaves ?? 4;
  const gain = opts.gain ?? 0.5;
  const ca = Math.cos(opts.angle ?? 0);
  const sa = Math.sin(opts.angle ?? 0);
  const stretch = opts.stretch ?? 1;
  let amp = 1;
  let total = 0;
  let cell = opts.cell;
  const lat = new Float32Array(LATTICE * LATTICE);
  const M = LATTICE - 1;
  for (let o = 0; o < octaves; o++) {
    for (let i = 0; i < lat.length; i++) lat[i] = rng();
    const ox = rng() * LATTICE;
    const oy = rng() * LATTICE;
    const inv = 1 / Math.max(cell, 0.5);
    const du = (ca * inv) / stretch;
    const dv = -sa * inv;
    if (sa === 0) {
      // Axis-aligned (the common case): column weights are shared by every row, so precompute them.
      const c0 = new Int32Array(width);
      const c1 = new Int32Array(width);
      const fx = new Float32Array(width);
      for (let x = 0; x < width; x++) {
        const u = x * du + ox + 1e4;
        const iu = Math.floor(u);
        const f = u - iu;
        c0[x] = iu & M;
        c1[x] = (iu + 1) & M;
        fx[x] = f * f * (3 - 2 * f);
      }
      for (let y = 0; y < height; y++) {
        const v = y * ca * inv + oy + 1e4;
        const iv = Math.floor(v);
        let fv = v - iv;
        fv = fv * fv * (3 - 2 * fv);
        const r0 = (iv & M) * LATTICE;
        const r1 = ((iv + 1) & M) * LATTICE;
        const row = y * width;
        for (let x = 0; x < width; x++) {
          const l00 = lat[r0 + c0[x]];
          const l10 = lat[r1 + c0[x]];
          const top = l00 + (lat[r0 + c1[x]] - l00) * fx[x];
          const bot = l10 + (lat[r1 + c1[x]] - l10) * fx[x];
          out[row + x] += amp * (top + (bot - top) * fv);
        }
      }
      total += amp;
      amp *= gain;
      cell /= 2;
      continue;
    }
    for (let y = 0; y < height; y++) {
      // Lattice coordinates move linearly along a row; +1e4 keeps them positive for the & mask.
      let u = (y * sa * inv) / stretch + ox + 1e4;
      let v = y * ca * inv + oy + 1e4;
      const row = y * width;
      for (let x = 0; x < width; x++, u += du, v += dv) {
        const iu = Math.floor(u);
        const iv = Math.floor(v);
        let fu = u - iu;
        let fv = v - iv;
        fu = fu * fu * (3 - 2 * fu);
        fv = fv * fv * (3 - 2 * fv);
        const a0 = iu & M;
        const a1 = (iu + 1) & M;
        const r0 = (iv & M) * LATTICE;
        const r1 = ((iv + 1) & M) * LATTICE;
        const l00 = lat[r0 + a0];
        const l10 = lat[r1 + a0];
        const top = l00 + (lat[r0 + a1] - l00) * fu;
        const bot = l10 + (lat[r1 + a1] - l10) * fu;
        out[row + x] += amp * (top + (bot - top) * fv);
      }
    }
    total += amp;
    amp *= gain;
    cell /= 2;
  }
  const s = 1 / total;
  for (let i = 0; i < out.length; i++) out[i] *= s;
  return out;
}

/** Stretches a noise field's contrast around ½ (noise averaged over octaves is narrow). */
export function contrast(f: Float32Array, k: number): Float32Array {
  for (let i = 0; i < f.length; i++) f[i] = 0.5 + (f[i] - 0.5) * k;
  return f;
}

/** Separable box blur with clamped edges, in place; `r` px radius. */
export function boxBlur(f: Float32Array, size: Size, r: number): Float32Array {
  r = Math.round(r);
  if (r < 1) return f;
  const { width: w, height: h } = size;
  const line = new Float32Array(Math.max(w, h));
  const norm = 1 / (2 * r + 1);
  // Running sums along rows, then columns (explicit loops: closures here cost a third of a scene).
  for (let y = 0; y < h; y++) {
    const o = y * w;
    let acc = 0;
    for (let k = -r; k <= r; k++) acc += f[o + Math.min(w - 1, Math.max(0, k))];
    for (let x = 0; x < w; x++) {
      line[x] = acc * norm;
      acc += f[o + Math.min(w - 1, x + r + 1)] - f[o + Math.max(0, x - r)];
    }
    for (let x = 0; x < w; x++) f[o + x] = line[x];
  }
  for (let x = 0; x < w; x++) {
    let acc = 0;
    for (let k = -r; k <= r; k++) acc += f[Math.min(h - 1, Math.max(0, k)) * w + x];
    for (let y = 0; y < h; y++) {
      line[y] = acc * norm;
      acc += f[Math.min(h - 1, y + r + 1) * w + x] - f[Math.max(0, y - r) * w + x];
    }
    for (let y = 0; y < h; y++) f[y * w + x] = line[y];
  }
  return f;
}

/** Approximate Gaussian blur (three box passes), in place. */
export function blur(f: Float32Array, size: Size, sigma: number): Float32Array {
  if (sigma < 0.3) return f;
  // Three boxes of radius r have variance 3·((2r+1)²−1)/12 = σ².
  const r = Math.max(1, Math.round((Math.sqrt(4 * sigma * sigma + 1) - 1) / 2));
  for (let i = 0; i < 3; i++) boxBlur(f, size, r);
  return f;
}

export function addNoise(f: Float32Array, rng: Rng, sigma: number): Float32Array {
  for (let i = 0; i < f.length; i++) f[i] += sigma * gauss(rng);
  return f;
}

/** Magnitude of a complex signal with Gaussian noise on both parts: MR's Rician noise (dark areas lift). */
export function ricianNoise(f: Float32Array, rng: Rng, sigma: number): Float32Array {
  for (let i = 0; i < f.length; i++) {
    const re = f[i] + sigma * gauss(rng);
    const im = sigma * gauss(rng);
    f[i] = Math.sqrt(re * re + im * im);
  }
  return f;
}

/** Multiplies by a smooth field in [1 − strength, 1 + strength] (coil sensitivity, uneven illumination). */
export function biasField(f: Float32Array, size: Size, rng: Rng, strength: number): Float32Array {
  const b = fractalNoise(size, rng, { cell: Math.max(size.width, size.height) / 1.5, octaves: 2, gain: 0.4 });
  for (let i = 0; i < f.length; i++) f[i] *= 1 + strength * (2 * b[i] - 1) * 2;
  return f;
}

/** Value of a smooth radial falloff: 1 at the centre, `edge` at `radius` and beyond (vignetting). */
export function vignette(
  size: Size,
  cx: number,
  cy: number,
  radius: number,
  edge: number,
  power = 2,
): Float32Array {
  const out = new Float32Array(size.width * size.height);
  for (let y = 0; y < size.height; y++)
    for (let x = 0; x < size.width; x++) {
      const d = Math.min(1, dist(x + 0.5 - cx, y + 0.5 - cy) / radius);
      out[y * size.width + x] = 1 - (1 - edge) * Math.pow(d, power);
    }
  return out;
}

/** Renders at a lower resolution's look: block-average by `factor` then bilinear back (thick MR slices). */
export function softenResolution(f: Float32Array, size: Size, factor: number): Float32Array {
  const { width: w, height: h } = size;
  const sw = Math.max(1, Math.floor(w / factor));
  const sh = Math.max(1, Math.floor(h / factor));
  const small = new Float32Array(sw * sh);
  const cnt = new Float32Array(sw * sh);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const j = Math.min(sh - 1, Math.floor((y * sh) / h)) * sw + Math.min(sw - 1, Math.floor((x * sw) / w));
      small[j] += f[y * w + x];
      cnt[j]++;
    }
  for (let j = 0; j < small.length; j++) small[j] /= cnt[j] || 1;
  for (let y = 0; y < h; y++) {
    const sy = Math.max(0, Math.min(sh - 1, ((y + 0.5) * sh) / h - 0.5));
    const y0 = Math.floor(sy);
    const y1 = Math.min(sh - 1, y0 + 1);
    const fy = sy - y0;
    for (let x = 0; x < w; x++) {
      const sx = Math.max(0, Math.min(sw - 1, ((x + 0.5) * sw) / w - 0.5));
      const x0 = Math.floor(sx);
      const x1 = Math.min(sw - 1, x0 + 1);
      const fx = sx - x0;
      const t = small[y0 * sw + x0] + (small[y0 * sw + x1] - small[y0 * sw + x0]) * fx;
      const b = small[y1 * sw + x0] + (small[y1 * sw + x1] - small[y1 * sw + x0]) * fx;
      f[y * w + x] = t + (b - t) * fy;
    }
  }
  return f;
}

// ---------------------------------------------------------------- colour

/** e^(−x) for x ≥ 0 by table and linear interpolation (error < 1e-5): three per pixel in every colour scene. */
const EXP_STEP = 1 / 256;
const EXP_TABLE = ((): Float64Array => {
  const t = new Float64Array(16 * 256 + 2);
  for (let i = 0; i < t.length; i++) t[i] = Math.exp(-i * EXP_STEP);
  return t;
})();
export function expNeg(x: number): number {
  if (x < 0) return Math.exp(-x);
  const u = x * 256;
  if (u >= 16 * 256) return 0;
  const i = u | 0;
  return EXP_TABLE[i] + (EXP_TABLE[i + 1] - EXP_TABLE[i]) * (u - i);
}

const to8 = (v: number): number => (v <= 0 ? 0 : v >= 1 ? 255 : Math.round(v * 255));

/** A grey field in [0, 1] as an RGB image (R = G = B, so it is stored as a grey PNG). */
export function greyImage(f: Float32Array, size: Size): RgbImage {
  const data = new Uint8Array(f.length * 3);
  for (let i = 0, j = 0; i < f.length; i++, j += 3) data[j] = data[j + 1] = data[j + 2] = to8(f[i]);
  return { width: size.width, height: size.height, data };
}

export function rgbImage(r: Float32Array, g: Float32Array, b: Float32Array, size: Size): RgbImage {
  const data = new Uint8Array(r.length * 3);
  for (let i = 0, j = 0; i < r.length; i++, j += 3) {
    data[j] = to8(r[i]);
    data[j + 1] = to8(g[i]);
    data[j + 2] = to8(b[i]);
  }
  return { width: size.width, height: size.height, data };
}

/**
 * Beer–Lambert colour: light `illum` (per pixel or constant) through absorbing layers, each a density field
 * times an optical-density colour vector. Stains (H&E, PAS, trichrome), melanin and haemoglobin all mix this
 * way, which is why scenes paint densities rather than colours.
 */
export function absorb(
  size: Size,
  layers: readonly { density: Float32Array; od: Rgb }[],
  illum: Rgb,
  illumField?: Float32Array,
): { r: Float32Array; g: Float32Array; b: Float32Array } {
  const n = size.width * size.height;
  const r = new Float32Array(n);
  const g = new Float32Array(n);
  const b = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let or = 0;
    let og = 0;
    let ob = 0;
    for (const l of layers) {
      const d = l.density[i];
      or += d * l.od[0];
      og += d * l.od[1];
      ob += d * l.od[2];
    }
    const L = illumField ? illumField[i] : 1;
    r[i] = L * illum[0] * expNeg(or);
    g[i] = L * illum[1] * expNeg(og);
    b[i] = L * illum[2] * expNeg(ob);
  }
  return { r, g, b };
}

/**
 * `absorb` straight to 8-bit RGB with additive sensor noise: one pass and no colour planes, for scenes that add
 * nothing after the optics (the histology micrographs).
 */
export function absorbToImage(
  size: Size,
  layers: readonly { density: Float32Array; od: Rgb }[],
  illum: Rgb,
  rng: Rng,
  noise: number,
): RgbImage {
  const n = size.width * size.height;
  const data = new Uint8Array(n * 3);
  // Sum the layers' optical densities per channel first (flat loops over typed arrays stay monomorphic).
  const od = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
  for (const l of layers)
    for (let c = 0; c < 3; c++) {
      const v = l.od[c];
      const o = od[c];
      const d = l.density;
      for (let i = 0; i < n; i++) o[i] += d[i] * v;
    }
  const [o0, o1, o2] = od;
  const [l0, l1, l2] = illum;
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    // One noise draw per pixel for all channels (luminance noise): a third of the random numbers.
    const z = noise * NORMAL_TABLE[(rng() * 4096) | 0];
    data[j] = to8(l0 * expNeg(o0[i]) + z);
    data[j + 1] = to8(l1 * expNeg(o1[i]) + z);
    data[j + 2] = to8(l2 * expNeg(o2[i]) + z);
  }
  return { width: size.width, height: size.height, data };
}

// ---------------------------------------------------------------- masks

export function countMask(m: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < m.length; i++) if (m[i]) n++;
  return n;
}

export function maskOr(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] || b[i] ? 1 : 0;
  return out;
}

/** `a` and not `b`. */
export function maskMinus(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] && !b[i] ? 1 : 0;
  return out;
}

/** Foreground pixels with a background 4-neighbour (or on the image border). */
export function maskOutline(m: Uint8Array, size: Size): Uint8Array {
  const { width: w, height: h } = size;
  const out = new Uint8Array(m.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (!m[i]) continue;
      if (
        x === 0 ||
        y === 0 ||
        x === w - 1 ||
        y === h - 1 ||
        !m[i - 1] ||
        !m[i + 1] ||
        !m[i - w] ||
        !m[i + w]
      )
        out[i] = 1;
    }
  return out;
}
