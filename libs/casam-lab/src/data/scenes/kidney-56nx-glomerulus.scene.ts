import { Shape, chance, circle, contrast, field, fractalNoise, offset, paint, shell, uniform } from '../draw';
import { STAIN, jitterStain, micrograph, scatterNuclei } from './histology';
import { drawTubules, glomerulus } from './kidney-tissue';
import { DomainDefinition } from './scene';

/**
 * Kidney biopsy, PAS stain at high magnification (56Nx-like): magenta basement membranes outline tubules;
 * one or two large glomeruli, a lobulated tuft of capillary loops with crowded nuclei inside a thin capsule
 * and a pale crescent of Bowman's space. Arterioles (thick magenta walls) are the distractor.
 */
export const kidney56nxGlomerulus: DomainDefinition = {
  name: 'kidney-56nx-glomerulus',
  modality: 'histopathology (PAS)',
  classes: ['glomerulus'],
  description: 'kidney histopathology, PAS, high magnification: glomeruli',
  unseen: false,
  render(rng, s) {
    const size = { width: s, height: s };
    const px = s / 256;
    const P = field(size, 0);
    const H = field(size, 0);
    const bg = fractalNoise(size, rng, { cell: s / 8, octaves: 3 });
    for (let i = 0; i < P.length; i++) P[i] = 0.08 + 0.15 * bg[i];

    const gloms: { x: number; y: number; r: number }[] = [];
    const n = chance(rng, 0.3) ? 2 : 1;
    for (let tries = 0; gloms.length < n && tries < 30; tries++) {
      const r = uniform(rng, 0.17, 0.27) * s;
      const x = (gloms.length === 0 ? uniform(rng, 0.3, 0.7) : uniform(rng, 0.1, 0.9)) * s;
      const y = (gloms.length === 0 ? uniform(rng, 0.3, 0.7) : uniform(rng, 0.1, 0.9)) * s;
      if (gloms.some((g) => Math.hypot(g.x - x, g.y - y) < (g.r + r) * 1.1)) continue;
      gloms.push({ x, y, r });
    }
    const shapes = gloms.map((g) => glomerulus(rng, g.x, g.y, g.r));
    const art: Shape[] = [];
    if (chance(rng, 0.5))
      art.push(circle(uniform(rng, 0.1, 0.9) * s, uniform(rng, 0.1, 0.9) * s, uniform(rng, 0.07, 0.1) * s));
    drawTubules(
      [P, H],
      size,
      rng,
      {
        radius: uniform(rng, 0.07, 0.09) * s,
        cytoplasm: [0.45, 0.05],
        membrane: [0.9, 0],
        lumen: [0.12, 0.01],
        nucleusLayer: 1,
        nucleus: 1.2,
      },
      [...shapes.map((g) => offset(g.capsule, 3 * px)), ...art],
    );
    for (const a of art) {
      // Arteriole: thick PAS-positive wall, nuclei in it, small lumen.
      paint(P, size, a, 0.85, { soft: 1.5 });
      paint(H, size, a, 0.1);
      const ar = (a.bounds[2] - a.bounds[0]) / 2 - 2;
      scatterNuclei(
        H,
        size,
        rng,
        40,
        [2.5 * px, 3.5 * px],
        [1 * px, 1.4 * px],
        1.2,
        0,
        (x, y) => a.sdf(x, y) < -ar * 0.3,
      );
      paint(P, size, offset(a, -ar * 0.6), 0.1, { soft: 1.5 });
      paint(H, size, offset(a, -ar * 0.6), 0.0, { soft: 1.5 });
    }

    const mask = new Uint8Array(s * s);
    const loops = contrast(fractalNoise(size, rng, { cell: 7 * px, octaves: 2 }), 3);
    const tuftP = new Float32Array(loops.length);
    for (let i = 0; i < loops.length; i++) tuftP[i] = 0.35 + 0.9 * Math.abs(loops[i] - 0.5) * 2;
    shapes.forEach((g, k) => {
      paint(P, size, g.capsule, 0.04, { soft: 1.2, mask }); // Bowman's space
      paint(H, size, g.capsule, 0.0, { soft: 1.2 });
      paint(P, size, shell(g.capsule, 2.2 * px), 0.9, { soft: 1 });
      paint(P, size, g.tuft, tuftP, { soft: 1.5 });
      paint(H, size, g.tuft, 0.12, { soft: 1.5 });
      const { x, y, r } = gloms[k];
      scatterNuclei(
        H,
        size,
        rng,
        Math.round((r * r * 0.03) / (px * px)),
        [1.6 * px, 2.4 * px],
        [1.3 * px, 1.8 * px],
        1.3,
        0,
        (px2, py) => g.tuft.sdf(px2, py) < -1 && Math.hypot(px2 - x, py - y) < r,
      );
    });
    const image = micrograph(
      size,
      rng,
      [
        { density: P, od: jitterStain(rng, STAIN.pas, 0.1) },
        { density: H, od: jitterStain(rng, STAIN.haematoxylin, 0.1) },
      ],
      [0.95, 0.94, 0.96],
    );
    return { image, masks: { glomerulus: mask } };
  },
};
