/**
 * A generic synthetic promptable-segmentation corpus for pretraining the embedded SAM: RGB scenes of
 * overlapping objects (ellipses, polygons, rings and hollow outlines, nested shapes, blobs, bars, crescents,
 * rounded boxes) with textured fills (stripes, checkers, dots, value noise, gradients), clutter,
 * low-contrast objects, noise, blur and illumination gradients. Everything is generated on the fly and is a
 * pure function of (seed, index), so no disk is needed and any sample can be regenerated exactly.
 *
 * Each sample is one image with `targetsPerImage` target objects. A target's mask is the object's *visible*
 * region (what lies on top occludes it, so rings and nested shapes have holes). Its prompt is a box (tight
 * box with a few px of jitter) or 1–3 positive points inside the mask, sometimes with a negative point
 * nearby outside it.
 *
 * Version 3 (`version: 3`; version 2 stays the default and draws exactly as before) adds the part–whole level
 * SAM's data has and version 2 lacked: in version 2 a target's mask never includes what lies on it (nested
 * objects leave holes, an outline is only its rim), which taught the model to outline the parts of a
 * structure and to stop at an inner edge. Version 3 draws, besides everything version 2 draws,
 * - wholes: half of the nested groups are also a target as a whole (outer object with what lies in it),
 * - outlined regions: a thin rim around a low-contrast interior holding small specks; the target is the whole
 *   region (rim, interior and specks),
 * - clusters: many small blobs packed into a region, sometimes on a faint tint; the target is the region,
 * - rows: 3–9 similar objects side by side with thin gaps, each its own target.
 * A box drawn tightly around a whole asks for the whole; one around a part asks for the part.
 *
 * Version 4 (`version: 4`) draws version 3's scenes and gives each target its footprint, as a radiologist's mask
 * is drawn: in version 3 the outer object of a nested group was a target twice under the same tight box (as a
 * whole, and as its visible region with holes where its contents lie), and specks and scratches of clutter drawn
 * on top cut holes into every target. Both taught the model to leave out whatever looks different inside an
 * object (measured: frozen masks of glomeruli and colon glands at precision 0.93–0.99, recall 0.50–0.66). In
 * version 4 a nested group's outer object is only the whole, and clutter lying on an object inside its outline
 * belongs to it; another object drawn over it still occludes it. A hollow shape (ring, hollow polygon: the target
 * is the rim, its inside shows the background) looks much like an outlined region (the target is the whole), so
 * version 4 draws half as many hollow shapes and more composites (45% of large objects instead of 35%).
 *
 * Version 5 (`version: 5`) adds to version 4's composites the two part–whole layouts frozen masks still cut short
 * (seen on the benchmark domains' validation images: a tuft inside its capsule, the ring of cells around a gland's
 * lumen): half of the outlined regions hold a large textured body that contrasts with the interior around it
 * (capsule + space + body, the target is the capsule's whole), and half of the clusters are annuli, their blobs
 * packed in a band around a lumen of another colour (the target is the region with its lumen).
 */

import { SeededRng, mixSeed } from '@casam/casam-core';

export type Box = [number, number, number, number];

export interface BoxPrompt {
  kind: 'box';
  /** (x0, y0, x1, y1) in pixels of the 256-px input frame. */
  box: Box;
}
export interface PointsPrompt {
  kind: 'points';
  /** (x, y) pixel coordinates (pixel centres are integers + 0, as SAM's predictor takes pixel indices). */
  points: [number, number][];
  /** 1 positive, 0 negative. */
  labels: number[];
}
export type Prompt = BoxPrompt | PointsPrompt;

/** Version 3's composite objects (see the header). */
export type CompositeKind = 'whole' | 'outlined' | 'cluster' | 'row-item';

export interface CorpusTarget {
  /** Visible region of the object, row-major size×size, 0/1. */
  mask: Uint8Array;
  area: number;
  /** Tight box of the mask (inclusive pixel indices), as SAM derives boxes from masks. */
  bbox: Box;
  /** Shape family of the object, or a region of a real image (real-corpus.ts), for diagnostics. */
  shape: ShapeKind | CompositeKind | 'real-region';
  prompt: Prompt;
}

export interface CorpusSample {
  index: number;
  size: number;
  /** HWC RGB uint8. */
  image: Uint8Array;
  targets: CorpusTarget[];
  /** Evaluation sets only: the group its targets are reported under (default: each target's shape). */
  group?: string;
}

export interface GenericCorpusOptions {
  seed: number;
  /** Image side (default 256, the casam-tiny input). */
  size?: number;
  /** Targets per image (default 4): the encoder runs once per image, the decoder once per target. */
  targetsPerImage?: number;
  /** Probability of a box prompt (else points). Default 0.5. */
  boxProbability?: number;
  /** Evaluation prompts: tight boxes without jitter (see `interiorPoint` for the matching point prompt). */
  evaluation?: boolean;
  /** Scene generator version: 2 (default, the original stream), 3 (adds wholes and composites) or 4 (3's
   * scenes with footprint targets). */
  version?: CorpusVersion;
}

export type CorpusVersion = 2 | 3 | 4 | 5;

/** Generator versions `createGenericCorpus` draws. */
export const GENERIC_CORPUS_VERSIONS: readonly number[] = [2, 3, 4, 5];

export interface GenericCorpus {
  readonly seed: number;
  readonly size: number;
  sample(index: number): CorpusSample;
}

/** Fixed seed of the held-out evaluation images, independent of the training seed. */
export const EVAL_SEED = 0x0e7a1;

/** Smallest visible area (pixels) an object needs to be a target. */
export const MIN_TARGET_AREA = 64;

export type ShapeKind =
  'ellipse' | 'polygon' | 'star' | 'ring' | 'hollow-polygon' | 'blob' | 'bar' | 'crescent' | 'rounded-box';

const SHAPES: readonly ShapeKind[] = [
  'ellipse',
  'polygon',
  'star',
  'ring',
  'hollow-polygon',
  'blob',
  'bar',
  'crescent',
  'rounded-box',
];

const SOLID_SHAPES: readonly ShapeKind[] = SHAPES.filter((k) => k !== 'ring' && k !== 'hollow-polygon');

// ---------------------------------------------------------------------------------------------------------
// Shapes: an inside test in pixel coordinates plus a bounding box.

interface Shape {
  kind: ShapeKind;
  bbox: Box;
  inside(x: number, y: number): boolean;
  center: [number, number];
  radius: number;
}

function pointInPolygon(px: number, py: number, xs: number[], ys: number[]): boolean {
  let inside = false;
  for (let i = 0, j = xs.length - 1; i < xs.length; j = i++) {
    if (ys[i] > py !== ys[j] > py && px < ((xs[j] - xs[i]) * (py - ys[i])) / (ys[j] - ys[i]) + xs[i])
      inside = !inside;
  }
  return inside;
}

function polygonVertices(
  rng: SeededRng,
  cx: number,
  cy: number,
  r: number,
  n: number,
  jitter: number,
): { xs: number[]; ys: number[] } {
  const xs: number[] = [];
  const ys: number[] = [];
  const start = rng.uniform(0, 2 * Math.PI);
  const step = (2 * Math.PI) / n;
  for (let i = 0; i < n; i++) {
    const a = start + i * step + rng.uniform(-0.3, 0.3) * step;
    const rr = r * (1 - jitter * rng.next());
    xs.push(cx + rr * Math.cos(a));
    ys.push(cy + rr * Math.sin(a));
  }
  return { xs, ys };
}

function bboxOf(xs: number[], ys: number[]): Box {
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

function ellipseTest(cx: number, cy: number, rx: number, ry: number, rot: number) {
  const c = Math.cos(rot);
  const s = Math.sin(rot);
  return (x: number, y: number): boolean => {
    const dx = x - cx;
    const dy = y - cy;
    const u = (dx * c + dy * s) / rx;
    const v = (-dx * s + dy * c) / ry;
    return u * u + v * v <= 1;
  };
}

function makeShape(rng: SeededRng, kind: ShapeKind, cx: number, cy: number, r: number): Shape {
  const center: [number, number] = [cx, cy];
  switch (kind) {
    case 'ellipse': {
      const rx = r;
      const ry = r * rng.uniform(0.35, 1);
      const rot = rng.uniform(0, Math.PI);
      return {
        kind,
        center,
        radius: r,
        bbox: [cx - r, cy - r, cx + r, cy + r],
        inside: ellipseTest(cx, cy, rx, ry, rot),
      };
    }
    case 'ring': {
      const ry = r * rng.uniform(0.55, 1);
      const rot = rng.uniform(0, Math.PI);
      const k = rng.uniform(0.45, 0.8);
      const outer = ellipseTest(cx, cy, r, ry, rot);
      const inner = ellipseTest(cx + rng.uniform(-0.1, 0.1) * r, cy, r * k, ry * k, rot);
      return {
        kind,
        center,
        radius: r,
        bbox: [cx - r, cy - r, cx + r, cy + r],
        inside: (x, y) => outer(x, y) && !inner(x, y),
      };
    }
    case 'crescent': {
      const outer = ellipseTest(cx, cy, r, r * rng.uniform(0.7, 1), 0);
      const a = rng.uniform(0, 2 * Math.PI);
      const off = r * rng.uniform(0.3, 0.6);
      const inner = ellipseTest(cx + off * Math.cos(a), cy + off * Math.sin(a), r * 0.85, r * 0.85, 0);
      return {
        kind,
        center,
        radius: r,
        bbox: [cx - r, cy - r, cx + r, cy + r],
        inside: (x, y) => outer(x, y) && !inner(x, y),
      };
    }
    case 'polygon':
    case 'star':
    case 'hollow-polygon': {
      const n = kind === 'star' ? rng.int(5, 9) * 2 : rng.int(3, 9);
      let { xs, ys } = polygonVertices(rng, cx, cy, r, n, kind === 'star' ? 0 : 0.35);
      if (kind === 'star') {
        const k = rng.uniform(0.35, 0.65);
        xs = xs.map((x, i) => (i % 2 ? cx + (x - cx) * k : x));
        ys = ys.map((y, i) => (i % 2 ? cy + (y - cy) * k : y));
      }
      const bbox = bboxOf(xs, ys);
      if (kind !== 'hollow-polygon')
        return { kind, center, radius: r, bbox, inside: (x, y) => pointInPolygon(x, y, xs, ys) };
      const k = rng.uniform(0.5, 0.78);
      const ixs = xs.map((x) => cx + (x - cx) * k);
      const iys = ys.map((y) => cy + (y - cy) * k);
      return {
        kind,
        center,
        radius: r,
        bbox,
        inside: (x, y) => pointInPolygon(x, y, xs, ys) && !pointInPolygon(x, y, ixs, iys),
      };
    }
    case 'blob': {
      const terms: { k: number; a: number; ph: number }[] = [];
      for (let k = 2; k <= 5; k++)
        terms.push({ k, a: rng.uniform(0, 0.35 / (k - 1)), ph: rng.uniform(0, 2 * Math.PI) });
      const rmax = r * (1 + terms.reduce((s, t) => s + t.a, 0));
      return {
        kind,
        center,
        radius: r,
        bbox: [cx - rmax, cy - rmax, cx + rmax, cy + rmax],
        inside: (x, y) => {
          const dx = x - cx;
          const dy = y - cy;
          const th = Math.atan2(dy, dx);
          let rr = r;
          for (const t of terms) rr += r * t.a * Math.sin(t.k * th + t.ph);
          return dx * dx + dy * dy <= rr * rr;
        },
      };
    }
    case 'bar': {
      const a = rng.uniform(0, Math.PI);
      const half = r;
      const th = Math.max(2, r * rng.uniform(0.08, 0.3));
      const ux = Math.cos(a);
      const uy = Math.sin(a);
      const x0 = cx - ux * half;
      const y0 = cy - uy * half;
      return {
        kind,
        center,
        radius: r,
        bbox: [cx - half - th, cy - half - th, cx + half + th, cy + half + th],
        inside: (x, y) => {
          // Distance to the segment (a capsule).
          const t = Math.max(0, Math.min(2 * half, (x - x0) * ux + (y - y0) * uy));
          const dx = x - (x0 + t * ux);
          const dy = y - (y0 + t * uy);
          return dx * dx + dy * dy <= th * th;
        },
      };
    }
    case 'rounded-box': {
      const hw = r;
      const hh = r * rng.uniform(0.3, 1);
      const rad = Math.min(hw, hh) * rng.uniform(0, 0.6);
      const rot = rng.chance(0.5) ? 0 : rng.uniform(0, Math.PI);
      const c = Math.cos(rot);
      const s = Math.sin(rot);
      const ext = Math.hypot(hw, hh);
      return {
        kind,
        center,
        radius: r,
        bbox: [cx - ext, cy - ext, cx + ext, cy + ext],
        inside: (x, y) => {
          const dx = x - cx;
          const dy = y - cy;
          const u = Math.abs(dx * c + dy * s) - (hw - rad);
          const v = Math.abs(-dx * s + dy * c) - (hh - rad);
          if (u <= 0 || v <= 0) return u <= rad && v <= rad;
          return u * u + v * v <= rad * rad;
        },
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Fills: colour at a pixel.

type Rgb = [number, number, number];
type Fill = (x: number, y: number, out: Float32Array) => void;

function randomColor(rng: SeededRng): Rgb {
  return [rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255)];
}

/** A colour near `c` (each channel within ±delta, at least `min` away in sum), clamped to 0..255. */
function nearColor(rng: SeededRng, c: Rgb, delta: number, min: number): Rgb {
  for (let tries = 0; tries < 8; tries++) {
    const out: Rgb = [0, 1, 2].map((i) =>
      Math.max(0, Math.min(255, c[i] + rng.uniform(-delta, delta))),
    ) as Rgb;
    if (Math.abs(out[0] - c[0]) + Math.abs(out[1] - c[1]) + Math.abs(out[2] - c[2]) >= min) return out;
  }
  return [c[0] > 128 ? c[0] - min : c[0] + min, c[1], c[2]];
}

/** Smooth value noise on a coarse lattice (bilinear, smoothstep), deterministic in its seed. */
function valueNoise(rng: SeededRng, cell: number): (x: number, y: number) => number {
  const n = 64;
  const grid = new Float32Array(n * n);
  for (let i = 0; i < grid.length; i++) grid[i] = rng.next();
  const ox = rng.uniform(0, 16);
  const oy = rng.uniform(0, 16);
  return (x, y) => {
    const fx = (x + ox) / cell;
    const fy = (y + oy) / cell;
    const ix = Math.floor(fx);
    const iy = Math.floor(fy);
    let tx = fx - ix;
    let ty = fy - iy;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    const g = (a: number, b: number): number => grid[(((b % n) + n) % n) * n + (((a % n) + n) % n)];
    const top = g(ix, iy) * (1 - tx) + g(ix + 1, iy) * tx;
    const bot = g(ix, iy + 1) * (1 - tx) + g(ix + 1, iy + 1) * tx;
    return top * (1 - ty) + bot * ty;
  };
}

function makeFill(rng: SeededRng, base: Rgb, second: Rgb): Fill {
  const kind = rng.pick(['solid', 'solid', 'gradient', 'stripes', 'checker', 'noise', 'dots'] as const);
  const mix = (a: number, out: Float32Array): void => {
    out[0] = base[0] + (second[0] - base[0]) * a;
    out[1] = base[1] + (second[1] - base[1]) * a;
    out[2] = base[2] + (second[2] - base[2]) * a;
  };
  switch (kind) {
    case 'solid':
      return (_x, _y, out) => mix(0, out);
    case 'gradient': {
      const a = rng.uniform(0, 2 * Math.PI);
      const len = rng.uniform(60, 300);
      const ux = Math.cos(a) / len;
      const uy = Math.sin(a) / len;
      const off = rng.uniform(0, 1);
      return (x, y, out) => mix(Math.abs(((x * ux + y * uy + off) % 2) - 1), out);
    }
    case 'stripes': {
      const a = rng.uniform(0, Math.PI);
      const period = rng.uniform(3, 16);
      const ux = (Math.cos(a) * 2 * Math.PI) / period;
      const uy = (Math.sin(a) * 2 * Math.PI) / period;
      const square = rng.chance(0.5);
      return (x, y, out) => {
        const s = Math.sin(x * ux + y * uy);
        mix(square ? (s > 0 ? 1 : 0) : 0.5 + 0.5 * s, out);
      };
    }
    case 'checker': {
      const p = rng.uniform(3, 14);
      return (x, y, out) => mix((Math.floor(x / p) + Math.floor(y / p)) & 1, out);
    }
    case 'noise': {
      const noise = valueNoise(rng, rng.uniform(2, 20));
      return (x, y, out) => mix(noise(x, y), out);
    }
    case 'dots': {
      const p = rng.uniform(5, 14);
      const rad2 = (p * rng.uniform(0.15, 0.4)) ** 2;
      return (x, y, out) => {
        const dx = (x % p) - p / 2;
        const dy = (y % p) - p / 2;
        mix(dx * dx + dy * dy < rad2 ? 1 : 0, out);
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Scene painting.

interface Painted {
  shape: ShapeKind | CompositeKind;
  /** Object id in the label map. */
  id: number;
  /** Clutter is never chosen as a target. */
  clutter: boolean;
  /** Ids of the objects that belong to this one (a whole): its mask is theirs and its own, where visible. */
  members?: number[];
  /** Version 4: the object's outline, to give it the clutter that lies on it (see the header). */
  outline?: Shape;
}

interface Scene {
  image: Float32Array; // HWC float
  labels: Int16Array; // −1 background, else object id
  objects: Painted[];
}

function paint(scene: Scene, size: number, shape: Shape, fill: Fill, id: number, alpha: number): void {
  const x0 = Math.max(0, Math.floor(shape.bbox[0]));
  const y0 = Math.max(0, Math.floor(shape.bbox[1]));
  const x1 = Math.min(size - 1, Math.ceil(shape.bbox[2]));
  const y1 = Math.min(size - 1, Math.ceil(shape.bbox[3]));
  const c = new Float32Array(3);
  for (let y = y0; y <= y1; y++)
    for (let x = x0; x <= x1; x++) {
      if (!shape.inside(x + 0.5, y + 0.5)) continue;
      const p = y * size + x;
      fill(x, y, c);
      const q = p * 3;
      scene.image[q] = scene.image[q] * (1 - alpha) + c[0] * alpha;
      scene.image[q + 1] = scene.image[q + 1] * (1 - alpha) + c[1] * alpha;
      scene.image[q + 2] = scene.image[q + 2] * (1 - alpha) + c[2] * alpha;
      scene.labels[p] = id;
    }
}

function meanColor(img: Float32Array, size: number, cx: number, cy: number, r: number): Rgb {
  const out: Rgb = [0, 0, 0];
  let n = 0;
  const step = Math.max(1, Math.floor(r / 6));
  for (let y = Math.max(0, Math.floor(cy - r)); y < Math.min(size, cy + r); y += step)
    for (let x = Math.max(0, Math.floor(cx - r)); x < Math.min(size, cx + r); x += step) {
      const q = (y * size + x) * 3;
      out[0] += img[q];
      out[1] += img[q + 1];
      out[2] += img[q + 2];
      n++;
    }
  return n ? (out.map((v) => v / n) as Rgb) : [128, 128, 128];
}

function drawScene(rng: SeededRng, size: number, version: CorpusVersion = 2): Scene {
  const scene: Scene = {
    image: new Float32Array(size * size * 3),
    labels: new Int16Array(size * size).fill(-1),
    objects: [],
  };
  // Background: a textured fill between two colours, sometimes close ones.
  const bg1 = randomColor(rng);
  const bg2 = rng.chance(0.5) ? nearColor(rng, bg1, 40, 10) : randomColor(rng);
  const bgFill = makeFill(rng, bg1, bg2);
  const c = new Float32Array(3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      bgFill(x, y, c);
      scene.image.set(c, (y * size + x) * 3);
    }

  let nextId = 0;
  const addObject = (shape: Shape, fill: Fill, clutter: boolean, alpha = 1): Painted => {
    paint(scene, size, shape, fill, nextId, alpha);
    const o: Painted = {
      shape: shape.kind,
      id: nextId,
      clutter,
      ...(version >= 4 ? { outline: shape } : {}),
    };
    scene.objects.push(o);
    nextId++;
    return o;
  };
  const objectFill = (cx: number, cy: number, r: number): Fill => {
    const local = meanColor(scene.image, size, cx, cy, r);
    // ~20% low-contrast objects: colour close to what lies beneath, often told apart by texture only.
    const base = rng.chance(0.2) ? nearColor(rng, local, 30, 12) : randomColor(rng);
    const second = rng.chance(0.6) ? nearColor(rng, base, 70, 20) : randomColor(rng);
    return makeFill(rng, base, second);
  };

  // Clutter beneath the objects.
  const clutterBelow = rng.int(0, 12);
  for (let i = 0; i < clutterBelow; i++) {
    const r = rng.uniform(2, 7);
    addObject(
      makeShape(rng, rng.pick(SHAPES), rng.uniform(0, size), rng.uniform(0, size), r),
      objectFill(0, 0, 1),
      true,
    );
  }

  const count = rng.int(3, 10);
  for (let i = 0; i < count; i++) {
    const r = size * Math.exp(rng.uniform(Math.log(0.035), Math.log(0.3)));
    const cx = rng.uniform(0, 1) * size;
    const cy = rng.uniform(0, 1) * size;
    if (version >= 3 && r > size * 0.05 && rng.chance(version >= 4 ? 0.45 : 0.35)) {
      drawComposite(rng, scene, size, cx, cy, r, addObject, objectFill, version);
      continue;
    }
    let kind = rng.pick(SHAPES);
    // Version 4: half as many hollow shapes (a rim whose inside shows the background is the target's rim only,
    // which looks like an outlined region whose target is the whole; outlined regions become more common).
    if (version >= 4 && (kind === 'ring' || kind === 'hollow-polygon') && rng.chance(0.5))
      kind = rng.pick(SOLID_SHAPES);
    const outer = addObject(
      makeShape(rng, kind, cx, cy, r),
      objectFill(cx, cy, r),
      false,
      rng.chance(0.1) ? 0.75 : 1,
    );
    // Nested: one or two smaller objects inside this one (they occlude it, leaving holes in its mask).
    if (r > size * 0.08 && kind !== 'bar' && rng.chance(0.3)) {
      const inner = rng.int(1, 3);
      const ids: number[] = [];
      for (let j = 0; j < inner; j++) {
        const ir = r * rng.uniform(0.2, 0.5);
        const a = rng.uniform(0, 2 * Math.PI);
        const d = r * rng.uniform(0, 0.4);
        const ix = cx + d * Math.cos(a);
        const iy = cy + d * Math.sin(a);
        ids.push(addObject(makeShape(rng, rng.pick(SHAPES), ix, iy, ir), objectFill(ix, iy, ir), false).id);
      }
      // Version 3: half of the groups are also a target as a whole (the outer object with its contents).
      // Version 4: the outer object is only ever the whole (its tight box asks for one answer).
      if (version >= 4) {
        outer.shape = 'whole';
        outer.members = ids;
      } else if (version >= 3 && rng.chance(0.5))
        scene.objects.push({ shape: 'whole', id: outer.id, clutter: false, members: ids });
    }
  }

  // Clutter on top: small specks and thin scratches.
  const clutterAbove = rng.int(0, 16);
  for (let i = 0; i < clutterAbove; i++) {
    const r = rng.uniform(1.5, 6);
    const kind: ShapeKind = rng.chance(0.3) ? 'bar' : rng.pick(SHAPES);
    addObject(makeShape(rng, kind, rng.uniform(0, size), rng.uniform(0, size), r), objectFill(0, 0, 1), true);
  }
  return scene;
}

/** Version 3's composite objects: an outlined region, a cluster of blobs, or a row of similar objects. */
function drawComposite(
  rng: SeededRng,
  scene: Scene,
  size: number,
  cx: number,
  cy: number,
  r: number,
  addObject: (shape: Shape, fill: Fill, clutter: boolean, alpha?: number) => Painted,
  objectFill: (cx: number, cy: number, r: number) => Fill,
  version: CorpusVersion,
): void {
  const kind = rng.pick(['outlined', 'cluster', 'row'] as const);
  const regionKind = rng.pick(['ellipse', 'blob', 'polygon'] as const);
  if (kind === 'row') {
    // 3–9 similar elongated objects along a line, thin gaps between them; each is a target.
    const n = rng.int(3, 10);
    const a = rng.uniform(0, Math.PI);
    const ux = Math.cos(a);
    const uy = Math.sin(a);
    const pitch = (2 * r) / n;
    const base = objectFill(cx, cy, r);
    const c = new Float32Array(3);
    base(cx, cy, c);
    const colour: Rgb = [c[0], c[1], c[2]];
    const long = rng.uniform(1.2, 3);
    for (let k = 0; k < n; k++) {
      const t = -r + pitch * (k + 0.5);
      const ox = cx + t * ux;
      const oy = cy + t * uy;
      const hw = pitch * rng.uniform(0.38, 0.5);
      const shape = makeShape(rng, 'ellipse', ox, oy, hw * long);
      // An ellipse elongated across the row: squeeze along the row direction.
      const rx = hw;
      const ry = hw * long;
      const test = ellipseTest(ox, oy, rx, ry, a);
      const item: Shape = { ...shape, bbox: [ox - ry, oy - ry, ox + ry, oy + ry], inside: test };
      const fill = makeFill(rng, nearColor(rng, colour, 25, 4), nearColor(rng, colour, 50, 10));
      addObject(item, fill, false).shape = 'row-item';
    }
    return;
  }
  const region = makeShape(rng, regionKind, cx, cy, r);
  if (kind === 'outlined') {
    // Interior close to what lies beneath (told apart mostly by the rim), then the rim, then specks inside.
    const local = meanColor(scene.image, size, cx, cy, r);
    const interior = addObject(
      region,
      makeFill(rng, nearColor(rng, local, 30, 6), nearColor(rng, local, 45, 10)),
      false,
    );
    const w = rng.uniform(1.2, Math.max(1.5, r * 0.12));
    const inner = (x: number, y: number): boolean =>
      region.inside(x - w, y) &&
      region.inside(x + w, y) &&
      region.inside(x, y - w) &&
      region.inside(x, y + w);
    const rim: Shape = { ...region, inside: (x, y) => region.inside(x, y) && !inner(x, y) };
    const ids = [addObject(rim, makeFill(rng, randomColor(rng), randomColor(rng)), false).id];
    scene.objects.pop(); // the rim alone is not a target
    if (version >= 5 && rng.chance(0.5)) {
      // A large body inside the capsule, off-centre, contrasting with the space around it; it is a target too.
      const br = r * rng.uniform(0.4, 0.72);
      const a = rng.uniform(0, 2 * Math.PI);
      const off = (r - br) * rng.uniform(0, 0.6);
      const bx = cx + off * Math.cos(a);
      const by = cy + off * Math.sin(a);
      const body = makeShape(rng, rng.pick(['blob', 'polygon', 'ellipse'] as const), bx, by, br);
      const clipped: Shape = { ...body, inside: (x, y) => body.inside(x, y) && inner(x, y) };
      ids.push(addObject(clipped, makeFill(rng, randomColor(rng), randomColor(rng)), false).id);
    }
    const specks = rng.int(0, 25);
    const speckFill = objectFill(cx, cy, r);
    for (let k = 0; k < specks; k++) {
      const a = rng.uniform(0, 2 * Math.PI);
      const d = r * Math.sqrt(rng.next()) * 0.8;
      const sx = cx + d * Math.cos(a);
      const sy = cy + d * Math.sin(a);
      if (!inner(sx, sy)) continue;
      const o = addObject(
        makeShape(
          rng,
          rng.pick(['ellipse', 'blob'] as const),
          sx,
          sy,
          rng.uniform(1.2, Math.max(1.5, r * 0.15)),
        ),
        speckFill,
        true,
      );
      ids.push(o.id);
    }
    interior.shape = 'outlined';
    interior.members = ids;
    return;
  }
  // cluster: a region (sometimes faintly tinted, else unmarked) packed with small blobs of one palette.
  const tinted = rng.chance(0.5);
  const local = meanColor(scene.image, size, cx, cy, r);
  const hull = addObject(
    region,
    makeFill(rng, nearColor(rng, local, 25, 6), nearColor(rng, local, 35, 8)),
    false,
    tinted ? 1 : 0,
  );
  hull.shape = 'cluster';
  const palette = randomColor(rng);
  const blobR = Math.max(1.5, Math.min(10, r * rng.uniform(0.08, 0.25)));
  const n = Math.round(((r * r) / (blobR * blobR)) * rng.uniform(0.4, 1.1));
  const ids: number[] = [];
  // Version 5: half of the clusters are annuli, blobs in a band around a lumen of another colour.
  const annulus = version >= 5 && rng.chance(0.5);
  const lumenK = annulus ? rng.uniform(0.4, 0.7) : 0;
  if (annulus) {
    const lumen: Shape = {
      ...region,
      inside: (x, y) => region.inside(cx + (x - cx) / lumenK, cy + (y - cy) / lumenK),
    };
    ids.push(addObject(lumen, makeFill(rng, randomColor(rng), randomColor(rng)), true).id);
  }
  for (let k = 0; k < Math.min(n, 120); k++) {
    const a = rng.uniform(0, 2 * Math.PI);
    const d = annulus ? r * rng.uniform(lumenK, 1) : r * Math.sqrt(rng.next());
    const bx = cx + d * Math.cos(a);
    const by = cy + d * Math.sin(a);
    if (!region.inside(bx, by)) continue;
    const fill = makeFill(rng, nearColor(rng, palette, 35, 4), nearColor(rng, palette, 60, 10));
    ids.push(
      addObject(
        makeShape(rng, rng.pick(['ellipse', 'blob'] as const), bx, by, blobR * rng.uniform(0.6, 1.3)),
        fill,
        true,
      ).id,
    );
  }
  hull.members = ids;
}

/** Illumination gradient, blur and sensor noise, then quantisation to uint8. */
function finishImage(rng: SeededRng, img: Float32Array, size: number): Uint8Array {
  if (rng.chance(0.3)) {
    const a = rng.uniform(0, 2 * Math.PI);
    const k = rng.uniform(0.2, 0.6) / size;
    const ux = Math.cos(a) * k;
    const uy = Math.sin(a) * k;
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const g = 1 + (x - size / 2) * ux + (y - size / 2) * uy;
        const q = (y * size + x) * 3;
        img[q] *= g;
        img[q + 1] *= g;
        img[q + 2] *= g;
      }
  }
  let cur = img;
  if (rng.chance(0.3)) {
    // 3×3 binomial blur (σ ≈ 0.7 px), separable.
    const tmp = new Float32Array(cur.length);
    const out = new Float32Array(cur.length);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        for (let ch = 0; ch < 3; ch++) {
          const l = cur[(y * size + Math.max(0, x - 1)) * 3 + ch];
          const r = cur[(y * size + Math.min(size - 1, x + 1)) * 3 + ch];
          tmp[(y * size + x) * 3 + ch] = 0.25 * l + 0.5 * cur[(y * size + x) * 3 + ch] + 0.25 * r;
        }
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        for (let ch = 0; ch < 3; ch++) {
          const u = tmp[(Math.max(0, y - 1) * size + x) * 3 + ch];
          const d = tmp[(Math.min(size - 1, y + 1) * size + x) * 3 + ch];
          out[(y * size + x) * 3 + ch] = 0.25 * u + 0.5 * tmp[(y * size + x) * 3 + ch] + 0.25 * d;
        }
    cur = out;
  }
  const sigma = rng.chance(0.6) ? rng.uniform(0, 18) : 0;
  const u8 = new Uint8Array(cur.length);
  for (let i = 0; i < cur.length; i++) {
    const v = cur[i] + (sigma > 0 ? sigma * rng.normal() : 0);
    u8[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
  }
  return u8;
}

// ---------------------------------------------------------------------------------------------------------
// Targets and prompts.

export function maskBox(mask: Uint8Array, size: number): { bbox: Box; area: number } {
  let x0 = size;
  let y0 = size;
  let x1 = -1;
  let y1 = -1;
  let area = 0;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      if (mask[y * size + x]) {
        area++;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
  return { bbox: [x0, y0, x1, y1], area };
}

/** Chamfer (3-4) distance to the nearest background pixel; the image border counts as background. */
function interiorDistance(mask: Uint8Array, size: number): Int32Array {
  const big = 1 << 28;
  const d = new Int32Array(size * size);
  for (let i = 0; i < d.length; i++) d[i] = mask[i] ? big : 0;
  const at = (x: number, y: number): number =>
    x < 0 || y < 0 || x >= size || y >= size ? 0 : d[y * size + x];
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const p = y * size + x;
      if (!d[p]) continue;
      d[p] = Math.min(d[p], at(x - 1, y) + 3, at(x, y - 1) + 3, at(x - 1, y - 1) + 4, at(x + 1, y - 1) + 4);
    }
  for (let y = size - 1; y >= 0; y--)
    for (let x = size - 1; x >= 0; x--) {
      const p = y * size + x;
      if (!d[p]) continue;
      d[p] = Math.min(d[p], at(x + 1, y) + 3, at(x, y + 1) + 3, at(x + 1, y + 1) + 4, at(x - 1, y + 1) + 4);
    }
  return d;
}

/** The most interior pixel of a mask (first in row-major order among ties): the "centre click". */
export function interiorPoint(mask: Uint8Array, size: number): [number, number] {
  const d = interiorDistance(mask, size);
  let best = -1;
  let at = 0;
  for (let i = 0; i < d.length; i++)
    if (d[i] > best) {
      best = d[i];
      at = i;
    }
  return [at % size, Math.floor(at / size)];
}

function pixelsWhere(mask: Uint8Array, want: number, region: Box, size: number): number[] {
  const out: number[] = [];
  for (let y = Math.max(0, region[1]); y <= Math.min(size - 1, region[3]); y++)
    for (let x = Math.max(0, region[0]); x <= Math.min(size - 1, region[2]); x++)
      if (mask[y * size + x] === want) out.push(y * size + x);
  return out;
}

export function trainingPrompt(
  rng: SeededRng,
  t: { mask: Uint8Array; bbox: Box },
  size: number,
  boxP: number,
): Prompt {
  const [x0, y0, x1, y1] = t.bbox;
  if (rng.chance(boxP)) {
    const side = Math.max(x1 - x0, y1 - y0) + 1;
    const sigma = Math.min(3, 0.05 * side) + 0.5;
    const j = (): number => Math.max(-2.5 * sigma, Math.min(2.5 * sigma, sigma * rng.normal()));
    const clamp = (v: number): number => Math.max(0, Math.min(size - 1, Math.round(v)));
    let b: Box = [clamp(x0 + j()), clamp(y0 + j()), clamp(x1 + j()), clamp(y1 + j())];
    if (b[2] <= b[0] || b[3] <= b[1]) b = [x0, y0, x1, y1];
    return { kind: 'box', box: b };
  }
  const inside = pixelsWhere(t.mask, 1, t.bbox, size);
  const nPos = rng.chance(0.5) ? 1 : rng.chance(0.6) ? 2 : 3;
  const points: [number, number][] = [];
  const labels: number[] = [];
  for (let i = 0; i < nPos; i++) {
    const p = inside[rng.int(0, inside.length)];
    points.push([p % size, Math.floor(p / size)]);
    labels.push(1);
  }
  if (rng.chance(0.3)) {
    const m = 10;
    const near = pixelsWhere(t.mask, 0, [x0 - m, y0 - m, x1 + m, y1 + m], size);
    if (near.length) {
      const p = near[rng.int(0, near.length)];
      points.push([p % size, Math.floor(p / size)]);
      labels.push(0);
    }
  }
  return { kind: 'points', points, labels };
}

/**
 * `perImage` targets from an image's candidate regions, with prompts: distinct regions in a shuffled order while
 * they last, then repeats (with fresh prompts); tight boxes for evaluation. Shared by the generic and the real
 * corpus, so both draw targets and prompts the same way.
 */
export function drawTargets(
  rng: SeededRng,
  candidates: readonly { mask: Uint8Array; area: number; bbox: Box; shape: CorpusTarget['shape'] }[],
  o: { perImage: number; size: number; boxP: number; evaluation?: boolean },
): CorpusTarget[] {
  const order = candidates.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const targets: CorpusTarget[] = [];
  for (let k = 0; k < o.perImage; k++) {
    const c = candidates[order[k % order.length]];
    const prompt: Prompt = o.evaluation
      ? { kind: 'box', box: [...c.bbox] as Box }
      : trainingPrompt(rng, c, o.size, o.boxP);
    targets.push({ mask: c.mask, area: c.area, bbox: c.bbox, shape: c.shape, prompt });
  }
  return targets;
}

/**
 * Version 4: clutter drawn after `o` (specks, scratches) inside `o`'s outline belongs to `o`'s target, as a speck on
 * an organ is part of the organ in a radiologist's mask. Other objects drawn on top still occlude it.
 */
function addClutterOnTop(mask: Uint8Array, o: Painted, outline: Shape, scene: Scene, size: number): void {
  const above = new Set<number>();
  for (const c of scene.objects) if (c.clutter && c.id > o.id && !o.members?.includes(c.id)) above.add(c.id);
  if (above.size === 0) return;
  const x0 = Math.max(0, Math.floor(outline.bbox[0]));
  const y0 = Math.max(0, Math.floor(outline.bbox[1]));
  const x1 = Math.min(size - 1, Math.ceil(outline.bbox[2]));
  const y1 = Math.min(size - 1, Math.ceil(outline.bbox[3]));
  for (let y = y0; y <= y1; y++)
    for (let x = x0; x <= x1; x++) {
      const p = y * size + x;
      if (!mask[p] && above.has(scene.labels[p]) && outline.inside(x + 0.5, y + 0.5)) mask[p] = 1;
    }
}

/**
 * The corpus. `sample(i)` draws image i from its own generator seeded by (seed, i), so samples are
 * independent of the order they are asked for.
 */
export function createGenericCorpus(opts: GenericCorpusOptions): GenericCorpus {
  const size = opts.size ?? 256;
  const perImage = opts.targetsPerImage ?? 4;
  const boxP = opts.boxProbability ?? 0.5;
  const version = opts.version ?? 2;
  if (!GENERIC_CORPUS_VERSIONS.includes(version))
    throw new Error(
      `generic corpus version must be one of ${GENERIC_CORPUS_VERSIONS.join(', ')}, got ${version}`,
    );
  if (!Number.isInteger(perImage) || perImage < 1)
    throw new Error(`targetsPerImage must be ≥ 1, got ${perImage}`);
  if (!Number.isInteger(size) || size < 32)
    throw new Error(`image size must be an integer ≥ 32, got ${size}`);
  const seed = opts.seed >>> 0;

  function sample(index: number): CorpusSample {
    if (!Number.isInteger(index) || index < 0)
      throw new Error(`sample index must be an integer ≥ 0, got ${index}`);
    // Redraw (same stream) in the rare case a scene has no object large enough.
    const rng = new SeededRng(mixSeed(seed, index));
    for (;;) {
      const scene = drawScene(rng, size, version);
      const candidates: {
        id: number;
        shape: ShapeKind | CompositeKind;
        mask: Uint8Array;
        area: number;
        bbox: Box;
      }[] = [];
      for (const o of scene.objects) {
        if (o.clutter) continue;
        const mask = new Uint8Array(size * size);
        if (o.members?.length) {
          const ids = new Set([o.id, ...o.members]);
          for (let i = 0; i < mask.length; i++) mask[i] = ids.has(scene.labels[i]) ? 1 : 0;
        } else for (let i = 0; i < mask.length; i++) mask[i] = scene.labels[i] === o.id ? 1 : 0;
        if (o.outline) addClutterOnTop(mask, o, o.outline, scene, size);
        const { bbox, area } = maskBox(mask, size);
        if (area >= MIN_TARGET_AREA) candidates.push({ id: o.id, shape: o.shape, mask, area, bbox });
      }
      if (candidates.length === 0) continue;
      const image = finishImage(rng, scene.image, size);
      const targets = drawTargets(rng, candidates, { perImage, size, boxP, evaluation: opts.evaluation });
      return { index, size, image, targets };
    }
  }

  return { seed, size, sample };
}
