import {
  addNoise,
  blob,
  blur,
  circle,
  contrast,
  ellipse,
  field,
  fractalNoise,
  greyImage,
  intersect,
  offset,
  paint,
  randInt,
  randomWobble,
  shapeMask,
  shell,
  stroke,
  subtract,
  uniform,
} from '../draw';
import { DomainDefinition, randomFrame } from './scene';

/** Soft-tissue window (W400/L40) grey level of a Hounsfield value. */
const hu = (v: number): number => Math.max(0, Math.min(1, (v + 160) / 400));

/**
 * Contrast-enhanced abdominal CT, axial (MSD Task09-like). The spleen is a crescent against the left body
 * wall whose grey level is within a few HU of the liver's; kidneys, aorta and bone are brighter distractors,
 * air in lungs, stomach and bowel is black. CT noise is fine-grained and additive (no bias field).
 */
export const msdSpleenCt: DomainDefinition = {
  name: 'msd-spleen-ct',
  modality: 'CT',
  classes: ['spleen'],
  description: 'abdominal CT, portal-venous phase, axial: spleen',
  unseen: false,
  render(rng, s) {
    const F = randomFrame(rng, s, { rotate: 8, scale: [0.85, 1.15], shift: 0.04 });
    const size = F.size;
    const img = field(size, 0);
    const tex = fractalNoise(size, rng, { cell: s / 12, octaves: 3 });
    const organTone = (base: number, amp: number) => {
      const f = new Float32Array(tex.length);
      for (let i = 0; i < f.length; i++) f[i] = base + amp * (tex[i] - 0.5);
      return f;
    };

    // Table, body wall, fat, muscle.
    paint(
      img,
      size,
      stroke(
        [
          [F.x(-1.2, 0.78), F.y(-1.2, 0.78)],
          [F.x(1.2, 0.78), F.y(1.2, 0.78)],
        ],
        F.len(0.025),
      ),
      0.3,
    );
    const body = blob({
      cx: F.x(0, 0.05),
      cy: F.y(0, 0.05),
      r: F.len(uniform(rng, 0.82, 0.92)),
      aspect: uniform(rng, 0.68, 0.78),
      angle: F.angle(0),
      wobble: randomWobble(rng, 0.03, 3),
    });
    const fatT = F.len(uniform(rng, 0.04, 0.13));
    paint(img, size, body, organTone(hu(-100), 0.06), { soft: 0.8 });
    const wall = offset(body, -fatT);
    paint(img, size, wall, hu(50));
    const inner = offset(wall, -F.len(0.035));
    paint(img, size, inner, organTone(hu(-90), 0.12));
    // Ribs along the wall.
    for (let k = randInt(rng, 6, 10); k > 0; k--) {
      const a = uniform(rng, -0.2, Math.PI + 0.2) + Math.PI;
      const u = Math.cos(a) * 0.8;
      const v = 0.05 + Math.sin(a) * 0.57;
      paint(img, size, ellipse(F.x(u, v), F.y(u, v), F.len(0.035), F.len(0.022), F.angle(a)), hu(700));
    }

    // Lung bases at the back on upper slices.
    if (rng() < 0.5)
      for (const side of [-1, 1]) {
        const lung = intersect(
          blob({
            cx: F.x(side * 0.45, 0.45),
            cy: F.y(side * 0.45, 0.45),
            r: F.len(uniform(rng, 0.12, 0.22)),
            aspect: 0.7,
            wobble: randomWobble(rng, 0.1),
          }),
          inner,
        );
        paint(img, size, lung, hu(-850), { soft: 1.2 });
      }

    // Liver (image left = patient right), stomach, bowel.
    const liver = intersect(
      blob({
        cx: F.x(-0.42, uniform(rng, -0.1, 0.05)),
        cy: F.y(-0.42, uniform(rng, -0.1, 0.05)),
        r: F.len(uniform(rng, 0.3, 0.42)),
        aspect: uniform(rng, 0.75, 1),
        angle: F.angle(uniform(rng, -0.4, 0.4)),
        wobble: randomWobble(rng, 0.12),
      }),
      offset(inner, -2),
    );
    const liverHu = uniform(rng, 95, 130);
    paint(img, size, liver, organTone(hu(liverHu), 0.05), { soft: 1.2 });
    for (let k = randInt(rng, 2, 5); k > 0; k--) {
      const p = [
        F.x(uniform(rng, -0.6, -0.3), uniform(rng, -0.2, 0.2)),
        F.y(uniform(rng, -0.6, -0.3), uniform(rng, -0.2, 0.2)),
      ] as const;
      paint(
        img,
        size,
        intersect(circle(p[0], p[1], F.len(uniform(rng, 0.015, 0.03))), liver),
        hu(liverHu + 50),
      );
    }
    const stomach = blob({
      cx: F.x(uniform(rng, 0.15, 0.3), -0.25),
      cy: F.y(uniform(rng, 0.15, 0.3), -0.25),
      r: F.len(uniform(rng, 0.12, 0.2)),
      aspect: 0.75,
      wobble: randomWobble(rng, 0.1),
    });
    paint(img, size, offset(stomach, F.len(0.02)), hu(60));
    paint(img, size, stomach, hu(15));
    const airLevel = F.y(0, -0.25) - F.len(uniform(rng, -0.02, 0.1));
    paint(
      img,
      size,
      intersect(stomach, { bounds: [0, 0, s, airLevel], sdf: (_x, y) => y - airLevel }),
      hu(-1000),
    );
    for (let k = randInt(rng, 4, 9); k > 0; k--) {
      const u = uniform(rng, -0.2, 0.35);
      const v = uniform(rng, -0.1, 0.3);
      const loop = circle(F.x(u, v), F.y(u, v), F.len(uniform(rng, 0.04, 0.08)));
      paint(img, size, loop, hu(40));
      if (rng() < 0.5) paint(img, size, offset(loop, -F.len(0.02)), rng() < 0.5 ? hu(-1000) : hu(10));
    }

    // Spine, aorta, IVC, kidneys.
    const vb = circle(F.x(0, 0.42), F.y(0, 0.42), F.len(0.11));
    paint(img, size, vb, hu(700));
    paint(img, size, offset(vb, -F.len(0.02)), hu(300));
    paint(img, size, circle(F.x(0, 0.58), F.y(0, 0.58), F.len(0.045)), hu(20));
    paint(img, size, shell(circle(F.x(0, 0.58), F.y(0, 0.58), F.len(0.06)), F.len(0.02)), hu(600));
    paint(img, size, circle(F.x(-0.06, 0.25), F.y(-0.06, 0.25), F.len(0.045)), hu(uniform(rng, 150, 220)));
    paint(img, size, ellipse(F.x(-0.18, 0.25), F.y(-0.18, 0.25), F.len(0.05), F.len(0.035)), hu(110));
    if (rng() < 0.75)
      for (const side of [-1, 1]) {
        const kid = blob({
          cx: F.x(side * 0.3, 0.35),
          cy: F.y(side * 0.3, 0.35),
          r: F.len(uniform(rng, 0.07, 0.1)),
          aspect: 1.5,
          angle: F.angle(side * 0.5),
          wobble: randomWobble(rng, 0.05, 2),
        });
        paint(img, size, kid, hu(180));
        paint(img, size, offset(kid, -F.len(0.025)), hu(110));
      }

    // Spleen: crescent against the left posterolateral wall, a few HU off the liver.
    const a = uniform(rng, -0.2, 0.5);
    const su = 0.5 + 0.05 * Math.cos(a);
    const sv = 0.15 + 0.2 * Math.sin(a);
    const sr = F.len(uniform(rng, 0.11, 0.2));
    const outer = blob({
      cx: F.x(su, sv),
      cy: F.y(su, sv),
      r: sr,
      aspect: uniform(rng, 1.3, 1.8),
      angle: F.angle(uniform(rng, -0.4, 0.1)),
      wobble: randomWobble(rng, 0.08, 3),
    });
    const bite = circle(F.x(su - 0.18, sv - 0.02), F.y(su - 0.18, sv - 0.02), sr * uniform(rng, 0.7, 1));
    const spleen = intersect(subtract(outer, bite), offset(inner, -2));
    paint(img, size, spleen, organTone(hu(liverHu + uniform(rng, -10, 15)), 0.05), { soft: 1.2 });

    addNoise(img, rng, uniform(rng, 0.025, 0.045));
    blur(img, size, 0.7);
    return { image: greyImage(contrast(img, 1), size), masks: { spleen: shapeMask(size, spleen) } };
  },
};
