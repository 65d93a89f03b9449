/** Renal cortex shared by the two glomerulus domains: tubules tiling the field, glomeruli placed among them. */
import { Rng, Shape, Size, blob, circle, offset, randomWobble, scan, uniform, union } from '../draw';
import { ringNuclei } from './histology';

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

export interface TubuleStyle {
  /** Mean tubule radius in px, and spacing of the jittered grid. */
  radius: number;
  /** Densities painted per stain layer: cytoplasm, basement membrane, lumen. */
  cytoplasm: readonly number[];
  membrane: readonly number[];
  lumen: readonly number[];
  /** Index of the nuclear stain layer and its amount. */
  nucleusLayer: number;
  nucleus: number;
}

/** Tubule cross-sections on a jittered grid, skipping anything that would overlap `keepOut` (glomeruli). */
export function drawTubules(
  layers: Float32Array[],
  size: Size,
  rng: Rng,
  st: TubuleStyle,
  keepOut: Shape[],
): void {
  const step = st.radius * 1.85;
  for (let gy = -step / 2; gy < size.height + step; gy += step)
    for (let gx = -step / 2 + (Math.round(gy / step) % 2) * (step / 2); gx < size.width + step; gx += step) {
      const x = gx + uniform(rng, -0.3, 0.3) * step;
      const y = gy + uniform(rng, -0.3, 0.3) * step;
      const r = st.radius * uniform(rng, 0.75, 1.2);
      if (keepOut.some((k) => k.sdf(x, y) < r * 0.9)) continue;
      const t = blob({
        cx: x,
        cy: y,
        r,
        aspect: uniform(rng, 0.55, 1),
        angle: rng() * Math.PI,
        wobble: randomWobble(rng, 0.1, 3),
      });
      const inset = r * uniform(rng, 0.45, 0.7);
      const mem = Math.max(1, r * 0.08);
      // Cytoplasm, membrane and lumen all follow from one sdf per pixel: one pass instead of nine.
      scan(
        size,
        t,
        mem + 1,
        (i, d) => {
          if (d > mem + 0.5) return;
          const body = clamp01(0.5 - d / 1.2);
          const edge = clamp01(0.5 - (Math.abs(d) - mem / 2));
          const lum = clamp01(0.5 - (d + inset) / 1.5);
          for (let k = 0; k < layers.length; k++) {
            const l = layers[k];
            l[i] += (st.cytoplasm[k] - l[i]) * body;
            l[i] += st.membrane[k] * edge;
            l[i] += (st.lumen[k] - l[i]) * lum;
          }
        },
        true,
      );
      ringNuclei(
        layers[st.nucleusLayer],
        size,
        rng,
        t,
        x,
        y,
        [r * 0.1, r * 0.4],
        Math.round(uniform(rng, 2, 6)),
        r * 0.14,
        r * 0.1,
        st.nucleus,
      );
    }
}

/** A glomerular tuft: a lobulated cluster of capillary lobules inside a capsule (Bowman's space between). */
export function glomerulus(
  rng: Rng,
  x: number,
  y: number,
  r: number,
): { capsule: Shape; tuft: Shape; lobules: Shape[] } {
  const capsule = blob({
    cx: x,
    cy: y,
    r,
    aspect: uniform(rng, 0.8, 1),
    angle: rng() * Math.PI,
    wobble: randomWobble(rng, 0.05, 3),
  });
  // The tuft sits off-centre, so Bowman's space is a crescent of varying width.
  const a = rng() * 2 * Math.PI;
  const off = r * uniform(rng, 0.03, 0.15);
  const tx = x + Math.cos(a) * off;
  const ty = y + Math.sin(a) * off;
  const lobules: Shape[] = [];
  const n = Math.round(uniform(rng, 5, 9));
  for (let k = 0; k < n; k++) {
    const b = (2 * Math.PI * k) / n + uniform(rng, -0.3, 0.3);
    const d = r * uniform(rng, 0.3, 0.5);
    lobules.push(circle(tx + Math.cos(b) * d, ty + Math.sin(b) * d, r * uniform(rng, 0.28, 0.42)));
  }
  lobules.push(circle(tx, ty, r * 0.45));
  const tuft = offset(union(...lobules), 0);
  return {
    capsule,
    tuft: {
      bounds: capsule.bounds,
      sdf: (px, py) => Math.max(tuft.sdf(px, py), capsule.sdf(px, py) + r * 0.1),
    },
    lobules,
  };
}
