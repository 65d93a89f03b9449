/** Helpers shared by the three histology domains: stain vectors, scattered nuclei, ring-placed nuclei. */
import { Rgb, Rng, Shape, Size, absorbToImage, boxBlur, ellipse, paint, uniform } from '../draw';
import { RgbImage } from '@casam/casam-core';

/** Optical density per unit stain (Beer–Lambert colour vectors, see `absorb`). */
export const STAIN = {
  haematoxylin: [0.65, 0.7, 0.29] as Rgb,
  eosin: [0.07, 0.99, 0.11] as Rgb,
  pas: [0.22, 1.05, 0.36] as Rgb,
  anilineBlue: [1.2, 0.62, 0.16] as Rgb,
  scarlet: [0.16, 1.5, 1.1] as Rgb,
};

/** A stain vector with per-slide variation (staining batches differ; a router must not rely on one hue). */
export function jitterStain(rng: Rng, v: Rgb, amount: number): Rgb {
  return [
    v[0] * uniform(rng, 1 - amount, 1 + amount),
    v[1] * uniform(rng, 1 - amount, 1 + amount),
    v[2] * uniform(rng, 1 - amount, 1 + amount),
  ];
}

/** Small dark nuclei at random, oriented along `angle` ± jitter, restricted to where `accept` holds. */
export function scatterNuclei(
  density: Float32Array,
  size: Size,
  rng: Rng,
  count: number,
  len: readonly [number, number],
  wid: readonly [number, number],
  amount: number,
  angle: number,
  accept: (x: number, y: number) => boolean = () => true,
): void {
  for (let k = 0; k < count; k++) {
    const x = rng() * size.width;
    const y = rng() * size.height;
    if (!accept(x, y)) continue;
    const a = angle + uniform(rng, -0.5, 0.5);
    paint(
      density,
      size,
      ellipse(x, y, uniform(rng, len[0], len[1]), uniform(rng, wid[0], wid[1]), a),
      amount,
      {
        mode: 'add',
        soft: 1,
      },
    );
  }
}

/** Nuclei inside the band −outer < sdf < −inner of `shape`, long axis pointing to (cx, cy) (epithelium). */
export function ringNuclei(
  density: Float32Array,
  size: Size,
  rng: Rng,
  shape: Shape,
  cx: number,
  cy: number,
  band: readonly [number, number],
  count: number,
  len: number,
  wid: number,
  amount: number,
): void {
  const [x0, y0, x1, y1] = shape.bounds;
  let placed = 0;
  for (let tries = 0; placed < count && tries < count * 12; tries++) {
    const x = uniform(rng, x0, x1);
    const y = uniform(rng, y0, y1);
    const d = shape.sdf(x, y);
    if (d > -band[0] || d < -band[1]) continue;
    const a = Math.atan2(y - cy, x - cx);
    paint(
      density,
      size,
      ellipse(x, y, len * uniform(rng, 0.8, 1.2), wid * uniform(rng, 0.8, 1.2), a),
      amount,
      {
        mode: 'add',
        soft: 1,
      },
    );
    placed++;
  }
}

/** Stain densities → an RGB micrograph, with a little optical blur and sensor noise. */
export function micrograph(
  size: Size,
  rng: Rng,
  layers: readonly { density: Float32Array; od: Rgb }[],
  illum: Rgb,
  noise = 0.012,
): RgbImage {
  // Optical blur on the (fewer) density fields rather than on three colour planes: cheaper, looks the same.
  for (const l of layers) boxBlur(l.density, size, Math.round(size.width / 300));
  return absorbToImage(size, layers, illum, rng, noise);
}
