import {
  absorb,
  addNoise,
  blob,
  boxBlur,
  chance,
  contrast,
  field,
  fractalNoise,
  paint,
  randInt,
  randomWobble,
  rgbImage,
  stroke,
  uniform,
  wanderPath,
  dist,
} from '../draw';
import { DomainDefinition, curveBand, randomFrame } from './scene';

const HAEMOGLOBIN = [0.22, 1.5, 1.25] as const;
const BILE = [0.02, 0.25, 1.1] as const;

/**
 * Colonoscopy frame (Kvasir/CVC-like): reddish mucosa lit by the scope's own light (bright centre, dark
 * periphery and lumen), haustral folds, a vessel net, a polyp whose colour is close to the mucosa's and is
 * told by its shading and outline, and specular highlights (the brightest pixels, mostly not polyp), inside
 * a black octagonal frame.
 */
export const polypEndoscopy: DomainDefinition = {
  name: 'polyp-endoscopy',
  modality: 'endoscopy',
  classes: ['polyp'],
  description: 'colonoscopy video frame: polyp',
  unseen: false,
  render(rng, s) {
    const F = randomFrame(rng, s, { rotate: 180, scale: [0.9, 1.1], shift: 0 });
    const size = F.size;
    const Hb = field(size, 0);
    const Bi = field(size, 0);
    const tex = contrast(fractalNoise(size, rng, { cell: s / 6, octaves: 4 }), 2);
    const base = uniform(rng, 0.45, 0.75);
    for (let i = 0; i < Hb.length; i++) Hb[i] = base * (0.75 + 0.5 * tex[i]);
    if (chance(rng, 0.3)) {
      const bile = fractalNoise(size, rng, { cell: s / 3, octaves: 2 });
      for (let i = 0; i < Bi.length; i++) Bi[i] = Math.max(0, bile[i] - 0.55) * 2;
    }
    // Light: the scope lights what is near; the lumen (far) is dark. Folds shade and catch light.
    const lx = F.x(uniform(rng, -0.6, 0.6), uniform(rng, -0.6, 0.6));
    const ly = F.y(uniform(rng, -0.6, 0.6), uniform(rng, -0.6, 0.6));
    const L = field(size, 1);
    const reach = s * uniform(rng, 0.55, 0.8);
    for (let y = 0; y < s; y++)
      for (let x = 0; x < s; x++) {
        const d = dist(x - lx, y - ly) / reach;
        L[y * s + x] = 1.15 / (1 + d * d * 1.8);
      }
    for (let k = randInt(rng, 1, 3); k > 0; k--) {
      const v0 = uniform(rng, -0.8, 0.8);
      const a = uniform(rng, -0.6, 0.6);
      const b = uniform(rng, -0.5, 0.5);
      const fold = (u: number) => v0 + a * u + b * u * u;
      paint(
        L,
        size,
        curveBand(F, (u) => fold(u) + 0.08, 0.12),
        0.6,
        { mode: 'mul', soft: s / 12 },
      );
      paint(L, size, curveBand(F, fold, 0.05), 1.2, { mode: 'mul', soft: s / 25 });
    }
    for (let k = randInt(rng, 4, 10); k > 0; k--) {
      const pts = wanderPath(rng, rng() * s, rng() * s, rng() * 6.3, 10, s / 30, 0.25);
      paint(Hb, size, stroke(pts, uniform(rng, 0.7, 1.6) * (s / 256)), uniform(rng, 0.15, 0.35), {
        mode: 'add',
        soft: 1.5,
      });
    }

    // The polyp: a dome, lit from the scope, slightly paler or redder than the mucosa, with a pit texture.
    const pr = s * uniform(rng, 0.08, 0.22);
    const pcx = F.x(uniform(rng, -0.45, 0.45), uniform(rng, -0.45, 0.45));
    const pcy = F.y(uniform(rng, -0.45, 0.45), uniform(rng, -0.45, 0.45));
    const polyp = blob({
      cx: pcx,
      cy: pcy,
      r: pr,
      aspect: uniform(rng, 0.7, 1),
      angle: rng() * 3.2,
      wobble: randomWobble(rng, 0.12, 3),
    });
    const mask = new Uint8Array(s * s);
    const pits = fractalNoise(size, rng, { cell: Math.max(2, s / 60), octaves: 2 });
    const tone = new Float32Array(Hb.length);
    const shift = uniform(rng, -0.25, 0.3);
    for (let i = 0; i < tone.length; i++) tone[i] = Hb[i] * (1 + shift) + 0.25 * (pits[i] - 0.5);
    paint(Hb, size, polyp, tone, { soft: uniform(rng, 2, 5), mask });
    const toLight = Math.atan2(ly - pcy, lx - pcx);
    const shade = field(size, 1);
    for (let y = Math.max(0, Math.floor(pcy - 2 * pr)); y < Math.min(s, pcy + 2 * pr); y++)
      for (let x = Math.max(0, Math.floor(pcx - 2 * pr)); x < Math.min(s, pcx + 2 * pr); x++) {
        const dx = (x - pcx) / pr;
        const dy = (y - pcy) / pr;
        const r2 = dx * dx + dy * dy;
        if (r2 >= 1.3) continue;
        // Lambert shading of a dome: brighter on the side facing the light, a shadow under the far side.
        const facing = dx * Math.cos(toLight) + dy * Math.sin(toLight);
        shade[y * s + x] = 1 + 0.45 * facing * Math.max(0, 1.3 - r2);
      }
    for (let i = 0; i < L.length; i++) L[i] *= shade[i];

    const { r, g, b } = absorb(
      size,
      [
        { density: Hb, od: HAEMOGLOBIN },
        { density: Bi, od: BILE },
      ],
      [1.0, 0.82, 0.72],
      L,
    );
    // Specular highlights: small white blobs, mostly on raised surfaces (folds, the polyp's top).
    const spec = field(size, 0);
    for (let k = randInt(rng, 8, 30); k > 0; k--) {
      const onPolyp = chance(rng, 0.35);
      const x = onPolyp ? pcx + uniform(rng, -0.6, 0.6) * pr : rng() * s;
      const y = onPolyp ? pcy + uniform(rng, -0.6, 0.6) * pr : rng() * s;
      paint(
        spec,
        size,
        blob({
          cx: x,
          cy: y,
          r: uniform(rng, 0.6, 3.5) * (s / 256),
          aspect: uniform(rng, 0.3, 1),
          angle: rng() * 3,
        }),
        1,
        { soft: 1.5 },
      );
    }
    // The scope's black frame: an octagon (cut corners).
    const cut = s * uniform(rng, 0.12, 0.2);
    for (let y = 0; y < s; y++)
      for (let x = 0; x < s; x++) {
        const i = y * s + x;
        const inFrame = x + y > cut && s - x + y > cut && x + s - y > cut && 2 * s - x - y > cut;
        const k = inFrame ? 1 : 0;
        r[i] = k * (r[i] + spec[i]);
        g[i] = k * (g[i] + spec[i]);
        b[i] = k * (b[i] + spec[i]);
      }
    for (const c of [r, g, b]) {
      boxBlur(c, size, Math.round(s / 300));
      addNoise(c, rng, 0.01);
    }
    return { image: rgbImage(r, g, b, size), masks: { polyp: mask } };
  },
};
