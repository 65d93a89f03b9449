import {
  Shape,
  blob,
  chance,
  circle,
  contrast,
  field,
  fractalNoise,
  offset,
  paint,
  randInt,
  randomWobble,
  uniform,
} from '../draw';
import { STAIN, jitterStain, micrograph, ringNuclei, scatterNuclei } from './histology';
import { DomainDefinition } from './scene';

/**
 * Colon biopsy, H&E (EBHI-Seg-like): pink fibrous stroma with scattered nuclei; glands as purple rings of
 * crowded nuclei around pale lumens, some cribriform (several lumens). Distractors: empty fat vacuoles and
 * tears (pale like lumens, no epithelium), lymphocyte clusters (as dark as epithelium).
 */
export const ebhiColonPathology: DomainDefinition = {
  name: 'ebhi-colon-pathology',
  modality: 'histopathology (H&E)',
  classes: ['gland'],
  description: 'colon histopathology, H&E: glands (epithelium and lumen)',
  unseen: false,
  render(rng, s) {
    const size = { width: s, height: s };
    const px = s / 256;
    const H = field(size, 0);
    const E = field(size, 0);
    const fibreAngle = rng() * Math.PI;
    const fibres = contrast(
      fractalNoise(size, rng, { cell: s / 6, octaves: 4, angle: fibreAngle, stretch: 3 }),
      2.2,
    );
    for (let i = 0; i < E.length; i++) {
      E[i] = 0.12 + 0.4 * Math.max(0, fibres[i]);
      H[i] = 0.04 + 0.08 * fibres[i];
    }
    scatterNuclei(H, size, rng, randInt(rng, 80, 200), [2 * px, 4 * px], [1 * px, 1.6 * px], 1.1, fibreAngle);
    // Lymphocyte cluster: round, dark, crowded.
    if (chance(rng, 0.6)) {
      const lx = rng() * s;
      const ly = rng() * s;
      const lr = uniform(rng, 0.06, 0.14) * s;
      scatterNuclei(
        H,
        size,
        rng,
        140,
        [1.6 * px, 2 * px],
        [1.4 * px, 1.8 * px],
        1.4,
        0,
        (x, y) => Math.hypot(x - lx, y - ly) < lr,
      );
    }
    for (let k = randInt(rng, 0, 3); k > 0; k--) {
      const hole = blob({
        cx: rng() * s,
        cy: rng() * s,
        r: uniform(rng, 0.02, 0.06) * s,
        aspect: uniform(rng, 0.5, 1),
        angle: rng() * 3,
        wobble: randomWobble(rng, 0.1),
      });
      paint(E, size, hole, 0.02, { soft: 1.5 });
      paint(H, size, hole, 0.01, { soft: 1.5 });
    }

    const mask = new Uint8Array(s * s);
    const placed: { x: number; y: number; r: number }[] = [];
    const want = randInt(rng, 2, 6);
    for (let tries = 0; placed.length < want && tries < 60; tries++) {
      const r = uniform(rng, 0.08, 0.19) * s;
      // The first gland goes near the centre, so every image has one.
      const x = (tries === 0 ? uniform(rng, 0.3, 0.7) : uniform(rng, -0.05, 1.05)) * s;
      const y = (tries === 0 ? uniform(rng, 0.3, 0.7) : uniform(rng, -0.05, 1.05)) * s;
      if (placed.some((g) => Math.hypot(g.x - x, g.y - y) < (g.r + r) * 1.05)) continue;
      // Keep most of the gland in the picture so its mask is not a sliver.
      if (x < r * 0.3 || y < r * 0.3 || x > s - r * 0.3 || y > s - r * 0.3) continue;
      placed.push({ x, y, r });
      const cancer = chance(rng, 0.45);
      const outer = blob({
        cx: x,
        cy: y,
        r,
        aspect: uniform(rng, 0.55, 1),
        angle: rng() * Math.PI,
        wobble: randomWobble(rng, cancer ? 0.22 : 0.1),
      });
      const t = r * uniform(rng, cancer ? 0.35 : 0.22, cancer ? 0.5 : 0.32);
      paint(E, size, offset(outer, 2 * px), 0.12, { soft: 2 }); // basement membrane halo
      paint(E, size, outer, uniform(rng, 0.35, 0.6), { mask });
      paint(H, size, outer, uniform(rng, 0.2, 0.35));
      const lumens: Shape[] = [offset(outer, -t)];
      if (cancer)
        for (let k = randInt(rng, 1, 4); k > 0; k--) {
          const a = rng() * 2 * Math.PI;
          const d = r * uniform(rng, 0.15, 0.4);
          lumens.push(circle(x + Math.cos(a) * d, y + Math.sin(a) * d, r * uniform(rng, 0.08, 0.18)));
        }
      ringNuclei(
        H,
        size,
        rng,
        outer,
        x,
        y,
        [1.5 * px, t * (cancer ? 0.95 : 0.6)],
        Math.round(((2 * Math.PI * r) / (3 * px)) * (cancer ? 1.6 : 1)),
        3.2 * px,
        1.5 * px,
        1.3,
      );
      for (const lumen of lumens) {
        paint(E, size, lumen, chance(rng, 0.3) ? 0.15 : 0.03, { soft: 1.5 });
        paint(H, size, lumen, chance(rng, 0.3) ? 0.12 : 0.015, { soft: 1.5 });
      }
    }
    const image = micrograph(
      size,
      rng,
      [
        { density: H, od: jitterStain(rng, STAIN.haematoxylin, 0.12) },
        { density: E, od: jitterStain(rng, STAIN.eosin, 0.12) },
      ],
      [0.96, 0.95, 0.97],
    );
    return { image, masks: { gland: mask } };
  },
};
