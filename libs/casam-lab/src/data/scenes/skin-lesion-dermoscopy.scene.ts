import {
  absorb,
  addNoise,
  blob,
  boxBlur,
  chance,
  circle,
  contrast,
  field,
  fractalNoise,
  offset,
  paint,
  randInt,
  randomWobble,
  rgbImage,
  shell,
  stroke,
  uniform,
  wanderPath,
  dist,
} from '../draw';
import { DomainDefinition } from './scene';

const MELANIN = [0.75, 1.15, 1.7] as const;
const BLOOD = [0.22, 1.5, 1.25] as const;

/**
 * Dermoscopy (ISIC-like), an UNSEEN domain: skin under a round dermoscope field, a brown pigmented lesion
 * with a pigment network and fuzzy, irregular border, sometimes a blue-grey veil; dark hairs crossing it and
 * air bubbles are the distractors.
 */
export const skinLesionDermoscopy: DomainDefinition = {
  name: 'skin-lesion-dermoscopy',
  modality: 'dermoscopy',
  classes: ['lesion'],
  description: 'dermoscopic skin image: pigmented lesion (unseen domain)',
  unseen: true,
  render(rng, s) {
    const size = { width: s, height: s };
    const Me = field(size, 0);
    const Bl = field(size, 0);
    const skinTex = fractalNoise(size, rng, { cell: s / 12, octaves: 4 });
    const tan = uniform(rng, 0.1, 0.45);
    const red = uniform(rng, 0.15, 0.35);
    for (let i = 0; i < Me.length; i++) {
      Me[i] = tan * (0.8 + 0.4 * skinTex[i]);
      Bl[i] = red * (0.7 + 0.6 * skinTex[i]);
    }
    const lr = s * uniform(rng, 0.14, 0.3);
    const lx = s * uniform(rng, 0.35, 0.65);
    const ly = s * uniform(rng, 0.35, 0.65);
    const lesion = blob({
      cx: lx,
      cy: ly,
      r: lr,
      aspect: uniform(rng, 0.65, 1),
      angle: rng() * 3.2,
      wobble: randomWobble(rng, 0.2, 4),
    });
    const net = fractalNoise(size, rng, { cell: Math.max(3, s / 40), octaves: 2 });
    const pigment = new Float32Array(net.length);
    const dark = uniform(rng, 0.8, 1.8);
    const blotch = contrast(fractalNoise(size, rng, { cell: lr / 2, octaves: 2 }), 2.5);
    for (let i = 0; i < net.length; i++) {
      // Network: dark lines where the noise crosses its median (a cheap reticular pattern).
      const line = Math.max(0, 1 - Math.abs(net[i] - 0.5) * 14);
      pigment[i] = tan + dark * (0.45 + 0.55 * blotch[i]) + 0.6 * line;
    }
    const mask = new Uint8Array(s * s);
    paint(Me, size, lesion, pigment, { soft: uniform(rng, 2, 6), mask });
    if (chance(rng, 0.35)) {
      const veil = offset(lesion, -lr * uniform(rng, 0.3, 0.6));
      paint(Bl, size, veil, red + 0.5, { soft: 6 });
      paint(Me, size, veil, dark * 0.8, { soft: 6 });
    }
    const L = field(size, 1);
    const scopeR = s * uniform(rng, 0.5, 0.72);
    for (let y = 0; y < s; y++)
      for (let x = 0; x < s; x++) {
        const d = dist(x + 0.5 - s / 2, y + 0.5 - s / 2) / scopeR;
        L[y * s + x] = d > 1 ? 0.02 : 1.05 - 0.25 * d * d;
      }
    for (let k = randInt(rng, 0, 10); k > 0; k--) {
      const pts = wanderPath(rng, rng() * s, rng() * s, rng() * 6.3, 12, s / 22, 0.08);
      paint(Me, size, stroke(pts, uniform(rng, 1, 2.2) * (s / 256)), 3.5, { mode: 'add', soft: 1 });
    }
    const spec = field(size, 0);
    for (let k = chance(rng, 0.4) ? randInt(rng, 1, 6) : 0; k > 0; k--) {
      const bub = circle(rng() * s, rng() * s, uniform(rng, 0.02, 0.07) * s);
      paint(spec, size, shell(bub, 1.5 * (s / 256)), 0.5, { soft: 1.2 });
    }
    const { r, g, b } = absorb(
      size,
      [
        { density: Me, od: MELANIN },
        { density: Bl, od: BLOOD },
      ],
      [1.0, 0.93, 0.88],
      L,
    );
    for (const c of [r, g, b]) {
      for (let i = 0; i < c.length; i++) c[i] += spec[i];
      boxBlur(c, size, Math.round(s / 300));
      addNoise(c, rng, 0.012);
    }
    return { image: rgbImage(r, g, b, size), masks: { lesion: mask } };
  },
};
