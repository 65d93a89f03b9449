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
  paint,
  randInt,
  randomWobble,
  rgbImage,
  stroke,
  uniform,
  wanderPath,
  dist,
} from '../draw';
import { DomainDefinition } from './scene';

const BLOOD = [0.22, 1.5, 1.25] as const;
const MELANIN = [0.55, 0.95, 1.5] as const;

/**
 * Colour fundus photograph (REFUGE/IDRiD-like), an UNSEEN domain: orange-red retina in a black circle, a
 * bright yellowish optic disc with a paler cup where the vessel arcades leave, a dark macula, sometimes
 * exudates (bright yellow spots, distractors).
 */
export const opticDiscFundus: DomainDefinition = {
  name: 'optic-disc-fundus',
  modality: 'fundus photography',
  classes: ['optic-disc'],
  description: 'retinal colour fundus photograph: optic disc (unseen domain)',
  unseen: true,
  render(rng, s) {
    const size = { width: s, height: s };
    const Bl = field(size, 0);
    const Me = field(size, 0);
    const ch = contrast(fractalNoise(size, rng, { cell: s / 10, octaves: 4 }), 2.5);
    const pig = uniform(rng, 0.15, 0.6);
    for (let i = 0; i < Bl.length; i++) {
      Bl[i] = 0.45 + 0.25 * ch[i];
      Me[i] = pig * (0.8 + 0.4 * ch[i]);
    }
    const cx = s / 2 + uniform(rng, -0.03, 0.03) * s;
    const cy = s / 2 + uniform(rng, -0.03, 0.03) * s;
    const R = s * uniform(rng, 0.45, 0.52);
    const side = chance(rng, 0.5) ? -1 : 1;
    const dr = s * uniform(rng, 0.06, 0.09);
    const dx = cx + side * uniform(rng, 0.15, 0.3) * s;
    const dy = cy + uniform(rng, -0.12, 0.12) * s;
    const disc = blob({
      cx: dx,
      cy: dy,
      r: dr,
      aspect: uniform(rng, 1.0, 1.2),
      angle: uniform(rng, -0.3, 0.3) + Math.PI / 2,
      wobble: randomWobble(rng, 0.04, 2),
    });
    // Macula: darker (more pigment, no large vessels) about 2.5 disc diameters temporal to the disc.
    const mx = dx - side * dr * 5;
    paint(Me, size, circle(mx, dy + dr * 0.5, dr * 1.5), pig + 0.5, { soft: dr * 1.5 });
    const L = field(size, 1);
    for (let y = 0; y < s; y++)
      for (let x = 0; x < s; x++) {
        const d = dist(x + 0.5 - cx, y + 0.5 - cy) / R;
        L[y * s + x] = d > 1 ? 0 : 1.05 - 0.45 * d * d * d;
      }
    const mask = new Uint8Array(s * s);
    paint(Bl, size, disc, 0.12, { soft: 2.5, mask });
    paint(Me, size, disc, 0.0, { soft: 2.5 });
    paint(L, size, disc, 1.3, { soft: 3, mode: 'mul' });
    paint(L, size, circle(dx + side * dr * 0.15, dy, dr * uniform(rng, 0.35, 0.6)), 1.2, {
      soft: 3,
      mode: 'mul',
    });
    // Vessel arcades from the disc: up and down, curving temporally, thinning, with side branches.
    for (const up of [-1, 1])
      for (let k = 0; k < 2; k++) {
        const heading = Math.atan2(up, -side * 0.4) + uniform(rng, -0.2, 0.2);
        const pts = wanderPath(rng, dx, dy, heading, 14, s / 28, 0.12);
        const w = (k === 0 ? 3.2 : 2.2) * (s / 256);
        paint(
          Bl,
          size,
          stroke(
            pts,
            pts.map((_, j) => w * (1 - j / 18)),
          ),
          k === 0 ? 1.1 : 0.7,
          { mode: 'add', soft: 1.2 },
        );
        for (let b = randInt(rng, 2, 4); b > 0; b--) {
          const p = pts[randInt(rng, 2, pts.length - 2)];
          const br = wanderPath(rng, p[0], p[1], rng() * 6.3, 8, s / 35, 0.2);
          paint(
            Bl,
            size,
            stroke(
              br,
              br.map((_, j) => w * 0.6 * (1 - j / 10)),
            ),
            0.6,
            { mode: 'add', soft: 1.2 },
          );
        }
      }
    if (chance(rng, 0.5)) {
      // Flash reflex: a bright crescent near the rim, as bright as the disc.
      const a = rng() * 2 * Math.PI;
      const refl = blob({
        cx: cx + Math.cos(a) * R * 0.8,
        cy: cy + Math.sin(a) * R * 0.8,
        r: R * uniform(rng, 0.15, 0.3),
        aspect: 0.35,
        angle: a + Math.PI / 2,
      });
      paint(L, size, refl, uniform(rng, 1.4, 1.8), { soft: s / 25, mode: 'mul' });
    }
    if (chance(rng, 0.5))
      for (let k = randInt(rng, 4, 20); k > 0; k--) {
        const a = rng() * 6.3;
        const d = rng() * R * 0.7;
        const e = circle(
          mx + Math.cos(a) * d * 0.6,
          dy + Math.sin(a) * d * 0.6,
          uniform(rng, 1, 5) * (s / 256),
        );
        paint(Bl, size, e, 0.05, { soft: 1.2 });
        paint(L, size, e, 1.35, { soft: 1.2, mode: 'mul' });
      }
    const { r, g, b } = absorb(
      size,
      [
        { density: Bl, od: BLOOD },
        { density: Me, od: MELANIN },
      ],
      [1.0, 0.78, 0.5],
      L,
    );
    for (const c of [r, g, b]) {
      boxBlur(c, size, Math.round(s / 300));
      addNoise(c, rng, 0.012);
    }
    return { image: rgbImage(r, g, b, size), masks: { 'optic-disc': mask } };
  },
};
