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
  shell,
  uniform,
} from '../draw';
import { STAIN, jitterStain, micrograph, scatterNuclei } from './histology';
import { drawTubules, glomerulus } from './kidney-tissue';
import { DomainDefinition } from './scene';

/**
 * Diabetic-nephropathy kidney biopsy, Masson trichrome at lower magnification (DN-like): red tubules in blue
 * fibrotic interstitium; several small glomeruli with pale-blue mesangial nodules, some wholly sclerosed
 * (solid blue). Hyalinised arterioles, also blue rings, are the distractor.
 */
export const kidneyDnGlomerulus: DomainDefinition = {
  name: 'kidney-dn-glomerulus',
  modality: 'histopathology (trichrome)',
  classes: ['glomerulus'],
  description: 'kidney histopathology, Masson trichrome, diabetic nephropathy, low magnification: glomeruli',
  unseen: false,
  render(rng, s) {
    const size = { width: s, height: s };
    const px = s / 256;
    const B = field(size, 0);
    const R = field(size, 0);
    const H = field(size, 0);
    const fib = contrast(fractalNoise(size, rng, { cell: s / 4, octaves: 4 }), 2.5);
    const fibrosis = uniform(rng, 0.25, 0.7);
    for (let i = 0; i < B.length; i++) B[i] = Math.max(0, fibrosis * (0.3 + 1.2 * (fib[i] - 0.3)));

    const gloms: { x: number; y: number; r: number }[] = [];
    const want = randInt(rng, 2, 4);
    for (let tries = 0; gloms.length < want && tries < 40; tries++) {
      const r = uniform(rng, 0.07, 0.11) * s;
      const x = (gloms.length === 0 ? uniform(rng, 0.25, 0.75) : uniform(rng, 0.08, 0.92)) * s;
      const y = (gloms.length === 0 ? uniform(rng, 0.25, 0.75) : uniform(rng, 0.08, 0.92)) * s;
      if (gloms.some((g) => Math.hypot(g.x - x, g.y - y) < (g.r + r) * 1.3)) continue;
      gloms.push({ x, y, r });
    }
    const shapes = gloms.map((g) => glomerulus(rng, g.x, g.y, g.r));
    const art: { shape: Shape; r: number }[] = [];
    for (let k = randInt(rng, 0, 2); k > 0; k--) {
      const r = uniform(rng, 0.05, 0.09) * s;
      art.push({
        shape: blob({
          cx: rng() * s,
          cy: rng() * s,
          r,
          aspect: uniform(rng, 0.7, 1),
          wobble: randomWobble(rng, 0.05),
        }),
        r,
      });
    }
    drawTubules(
      [B, R, H],
      size,
      rng,
      {
        radius: uniform(rng, 0.04, 0.055) * s,
        cytoplasm: [0.05, 0.55, 0.08],
        membrane: [0.5, 0, 0],
        lumen: [0.05, 0.06, 0.0],
        nucleusLayer: 2,
        nucleus: 1.1,
      },
      [...shapes.map((g) => offset(g.capsule, 3 * px)), ...art.map((a) => a.shape)],
    );
    for (const a of art) {
      paint(B, size, a.shape, 0.75, { soft: 1.5 });
      paint(R, size, a.shape, 0.12, { soft: 1.5 });
      paint(B, size, offset(a.shape, -a.r * 0.55), 0.08, { soft: 1.5 });
      paint(R, size, offset(a.shape, -a.r * 0.55), 0.5, { soft: 1.5 });
    }

    const mask = new Uint8Array(s * s);
    shapes.forEach((g, k) => {
      const { x, y, r } = gloms[k];
      paint(B, size, g.capsule, 0.08, { soft: 1.2, mask });
      paint(R, size, g.capsule, 0.04, { soft: 1.2 });
      paint(B, size, shell(g.capsule, 2.5 * px), 0.7, { soft: 1 });
      if (chance(rng, 0.25)) {
        // Global sclerosis: the whole tuft is collagen.
        paint(B, size, g.tuft, 0.8, { soft: 1.5 });
        paint(R, size, g.tuft, 0.1, { soft: 1.5 });
      } else {
        paint(R, size, g.tuft, 0.6, { soft: 1.2 });
        paint(B, size, g.tuft, 0.15, { soft: 1.2 });
        for (const lob of g.lobules)
          if (chance(rng, 0.5)) {
            const [bx0, by0, bx1, by1] = lob.bounds;
            const nod = circle(
              (bx0 + bx1) / 2,
              (by0 + by1) / 2,
              ((bx1 - bx0) / 2 - 2) * uniform(rng, 0.4, 0.7),
            );
            paint(B, size, nod, 0.45, { soft: 2 });
            paint(R, size, nod, 0.12, { soft: 2 });
          }
      }
      scatterNuclei(
        H,
        size,
        rng,
        Math.round((r * r * 0.04) / (px * px)),
        [1.2 * px, 1.8 * px],
        [1 * px, 1.4 * px],
        1.2,
        0,
        (px2, py) => g.tuft.sdf(px2, py) < -0.5 && Math.hypot(px2 - x, py - y) < r,
      );
    });
    const image = micrograph(
      size,
      rng,
      [
        { density: B, od: jitterStain(rng, STAIN.anilineBlue, 0.12) },
        { density: R, od: jitterStain(rng, STAIN.scarlet, 0.12) },
        { density: H, od: jitterStain(rng, STAIN.haematoxylin, 0.12) },
      ],
      [0.94, 0.95, 0.96],
    );
    return { image, masks: { glomerulus: mask } };
  },
};
