/** Axial T2 pelvis shared by the two prostate domains; each applies its own scanner look afterwards. */
import {
  Rng,
  Shape,
  blob,
  circle,
  contrast,
  fractalNoise,
  intersect,
  offset,
  paint,
  randomWobble,
  shell,
  subtract,
  uniform,
} from '../draw';
import { Frame } from './scene';

export interface PelvisShapes {
  gland: Shape;
  /** Transition zone (central, anterior). */
  tz: Shape;
  /** Peripheral zone (posterior horseshoe) = gland − tz. */
  pz: Shape;
  /** Rectum centre in px (the endorectal coil sits here). */
  rectum: readonly [number, number];
}

export interface PelvisLook {
  fat: number;
  muscle: number;
  pz: number;
  tz: number;
  urine: number;
}

export function drawPelvis(img: Float32Array, F: Frame, rng: Rng, look: PelvisLook): PelvisShapes {
  const size = F.size;
  const s = size.width;
  const tex = contrast(fractalNoise(size, rng, { cell: s / 10, octaves: 4 }), 2);
  const toned = (base: number, amp: number) => {
    const f = new Float32Array(tex.length);
    for (let i = 0; i < f.length; i++) f[i] = base * (1 + amp * (tex[i] - 0.5));
    return f;
  };
  const body = blob({
    cx: F.x(0, 0),
    cy: F.y(0, 0),
    r: F.len(1.05),
    aspect: uniform(rng, 0.62, 0.75),
    angle: F.angle(0),
    wobble: randomWobble(rng, 0.04, 3),
  });
  paint(img, size, body, toned(look.fat, 0.4), { soft: 1.5 });
  // Gluteal and obturator muscles, femoral heads with dark cortex.
  for (const side of [-1, 1]) {
    paint(
      img,
      size,
      blob({
        cx: F.x(side * 0.55, 0.35),
        cy: F.y(side * 0.55, 0.35),
        r: F.len(0.32),
        aspect: 0.6,
        angle: F.angle(side * 0.5),
        wobble: randomWobble(rng, 0.08),
      }),
      toned(look.muscle, 0.3),
      { soft: 1.5 },
    );
    const head = circle(
      F.x(side * uniform(rng, 0.62, 0.72), -0.05),
      F.y(side * 0.67, -0.05),
      F.len(uniform(rng, 0.13, 0.17)),
    );
    paint(img, size, head, toned(look.fat * 0.75, 0.5));
    paint(img, size, shell(head, F.len(0.03)), 0.04);
    paint(
      img,
      size,
      blob({
        cx: F.x(side * 0.33, 0.05),
        cy: F.y(side * 0.33, 0.05),
        r: F.len(0.13),
        aspect: 1.8,
        angle: F.angle(side * 0.2),
        wobble: randomWobble(rng, 0.08),
      }),
      toned(look.muscle, 0.3),
      { soft: 1.5 },
    );
  }
  // Prostate: a gland with a darker, nodular transition zone in front and the peripheral zone behind.
  const gx = F.x(uniform(rng, -0.05, 0.05), uniform(rng, -0.05, 0.08));
  const gy = F.y(uniform(rng, -0.05, 0.05), uniform(rng, -0.05, 0.08));
  const gr = F.len(uniform(rng, 0.15, 0.23));
  const gland = blob({
    cx: gx,
    cy: gy,
    r: gr,
    aspect: uniform(rng, 0.7, 0.85),
    angle: F.angle(uniform(rng, -0.15, 0.15)),
    wobble: randomWobble(rng, 0.06, 3),
  });
  const tzr = gr * uniform(rng, 0.5, 0.72);
  const tz = intersect(
    blob({
      cx: gx + ((F.x(0, -1) - F.x(0, 0)) * (gr * 0.22)) / F.len(1),
      cy: gy + ((F.y(0, -1) - F.y(0, 0)) * (gr * 0.22)) / F.len(1),
      r: tzr,
      aspect: uniform(rng, 0.65, 0.85),
      angle: F.angle(uniform(rng, -0.2, 0.2)),
      wobble: randomWobble(rng, 0.1, 3),
    }),
    offset(gland, -F.len(0.02)),
  );
  const pz = subtract(gland, tz);
  const nod = contrast(fractalNoise(size, rng, { cell: gr / 1.5, octaves: 2 }), 3);
  const tzTone = new Float32Array(nod.length);
  for (let i = 0; i < nod.length; i++) tzTone[i] = look.tz * (0.7 + 0.6 * nod[i]);
  paint(img, size, offset(gland, F.len(0.012)), look.muscle * 0.6, { soft: 1.2 });
  paint(img, size, gland, toned(look.pz, 0.35), { soft: 1.2 });
  paint(img, size, tz, tzTone, { soft: 2.5 });
  // Rectum behind, bladder in front on some slices (a bright distractor).
  const rx = F.x(0, 0) + (gx - F.x(0, 0)) + (F.x(0, 1) - F.x(0, 0)) * ((gr * 0.75 + F.len(0.13)) / F.len(1));
  const ry = F.y(0, 0) + (gy - F.y(0, 0)) + (F.y(0, 1) - F.y(0, 0)) * ((gr * 0.75 + F.len(0.13)) / F.len(1));
  const rectum = blob({
    cx: rx,
    cy: ry,
    r: F.len(uniform(rng, 0.09, 0.12)),
    aspect: 0.75,
    wobble: randomWobble(rng, 0.08),
  });
  paint(img, size, rectum, look.muscle * 0.7);
  paint(img, size, offset(rectum, -F.len(0.035)), rng() < 0.5 ? 0.02 : look.urine * 0.6, { soft: 1.5 });
  if (rng() < 0.5) {
    const bx = gx + (F.x(0, -1) - F.x(0, 0)) * ((gr + F.len(0.2)) / F.len(1));
    const by = gy + (F.y(0, -1) - F.y(0, 0)) * ((gr + F.len(0.2)) / F.len(1));
    paint(
      img,
      size,
      blob({
        cx: bx,
        cy: by,
        r: F.len(uniform(rng, 0.15, 0.25)),
        aspect: 0.6,
        wobble: randomWobble(rng, 0.1),
      }),
      look.urine,
      { soft: 1.5 },
    );
  }
  return { gland, tz, pz, rectum: [rx, ry] };
}
