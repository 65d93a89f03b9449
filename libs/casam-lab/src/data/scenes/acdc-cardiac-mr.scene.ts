import {
  biasField,
  blob,
  blur,
  circle,
  contrast,
  field,
  fractalNoise,
  greyImage,
  maskMinus,
  offset,
  paint,
  randInt,
  randomWobble,
  ricianNoise,
  shapeMask,
  shell,
  subtract,
  uniform,
  union,
} from '../draw';
import { DomainDefinition, randomFrame } from './scene';

/**
 * Short-axis cine MR (ACDC-like). The targets are the bright LV blood pool, the dark myocardial ring around it
 * (no brighter than the surrounding tissue: the hard class) and the RV crescent. Bright distractors: the
 * descending aorta, subcutaneous and epicardial fat.
 */
export const acdcCardiacMr: DomainDefinition = {
  name: 'acdc-cardiac-mr',
  modality: 'MR',
  classes: ['lv', 'myo', 'rv'],
  description: 'cardiac cine MR, short axis: left-ventricle cavity, myocardium, right ventricle',
  unseen: false,
  render(rng, s) {
    const F = randomFrame(rng, s, { rotate: 30, scale: [1.15, 1.6], shift: 0.05 });
    const size = F.size;
    const img = field(size, 0.01);
    const tex = contrast(fractalNoise(size, rng, { cell: s / 8, octaves: 4 }), 2.2);
    const tissue = new Float32Array(tex.length);
    for (let i = 0; i < tex.length; i++) tissue[i] = 0.26 + 0.1 * (tex[i] - 0.5);

    const body = blob({
      cx: F.x(0, 0.05),
      cy: F.y(0, 0.05),
      r: F.len(0.95),
      aspect: uniform(rng, 0.68, 0.8),
      angle: F.angle(uniform(rng, -0.1, 0.1)),
      wobble: randomWobble(rng, 0.04, 3),
    });
    paint(img, size, body, 0.55, { soft: 1.5 });
    paint(img, size, offset(body, -F.len(uniform(rng, 0.03, 0.07))), tissue);

    // Lungs: dark, either side of the heart; liver below-left; spine and aorta behind.
    for (const side of [-1, 1]) {
      const lung = blob({
        cx: F.x(side * 0.52, -0.05),
        cy: F.y(side * 0.52, -0.05),
        r: F.len(uniform(rng, 0.22, 0.3)),
        aspect: uniform(rng, 1.1, 1.5),
        angle: F.angle(side * 0.3),
        wobble: randomWobble(rng, 0.12),
      });
      paint(img, size, lung, 0.05 + 0.03 * rng(), { soft: 2 });
    }
    paint(
      img,
      size,
      blob({
        cx: F.x(-0.35, 0.45),
        cy: F.y(-0.35, 0.45),
        r: F.len(0.3),
        aspect: 0.6,
        wobble: randomWobble(rng, 0.1),
      }),
      0.34,
      { soft: 2 },
    );
    const spine = circle(F.x(0.05, 0.52), F.y(0.05, 0.52), F.len(0.09));
    paint(img, size, spine, 0.4);
    paint(img, size, shell(spine, F.len(0.02)), 0.08);
    paint(
      img,
      size,
      circle(F.x(0.18, 0.36), F.y(0.18, 0.36), F.len(uniform(rng, 0.05, 0.07))),
      uniform(rng, 0.7, 0.85),
    );

    // Heart.
    const hx = F.x(uniform(rng, -0.12, 0.12), uniform(rng, -0.12, 0.08));
    const hy = F.y(uniform(rng, -0.12, 0.12), uniform(rng, -0.12, 0.08));
    const lvR = F.len(uniform(rng, 0.11, 0.2));
    const lv = blob({
      cx: hx,
      cy: hy,
      r: lvR,
      aspect: uniform(rng, 0.8, 1.15),
      angle: rng() * Math.PI,
      wobble: randomWobble(rng, 0.06, 3),
    });
    const myoT = F.len(uniform(rng, 0.035, 0.065));
    const epi = union(
      offset(lv, myoT * 0.7),
      blob({
        cx: hx,
        cy: hy,
        r: lvR + myoT,
        aspect: uniform(rng, 0.9, 1.1),
        wobble: randomWobble(rng, 0.05, 2),
      }),
    );
    const rvDir = F.angle(Math.PI + uniform(rng, -0.5, 0.3));
    const rvR = lvR * uniform(rng, 1.05, 1.45);
    const rvDist = lvR + myoT + rvR * uniform(rng, 0.05, 0.35);
    const rvBlob = blob({
      cx: hx + Math.cos(rvDir) * rvDist,
      cy: hy + Math.sin(rvDir) * rvDist,
      r: rvR,
      aspect: uniform(rng, 0.45, 0.7),
      angle: rvDir + Math.PI / 2,
      wobble: randomWobble(rng, 0.08, 3),
    });
    const rv = subtract(rvBlob, offset(epi, F.len(0.018)));

    // Patchy epicardial fat: bright, right on the myocardium's border.
    const fatPatch = fractalNoise(size, rng, { cell: s / 10, octaves: 2 });
    for (let i = 0; i < fatPatch.length; i++) fatPatch[i] = fatPatch[i] > 0.55 ? 0.6 : 0.3;
    paint(img, size, offset(epi, F.len(0.035)), fatPatch, { soft: 1.5 });
    paint(img, size, offset(rvBlob, F.len(0.02)), 0.28, { soft: 1.5 });
    const myoTone = new Float32Array(tex.length);
    for (let i = 0; i < tex.length; i++) myoTone[i] = 0.2 + 0.06 * (tex[i] - 0.5);
    paint(img, size, epi, myoTone, { soft: 1.2 });
    const blood = uniform(rng, 0.72, 0.85);
    paint(img, size, lv, blood, { soft: 1.2 });
    paint(img, size, rv, blood * uniform(rng, 0.8, 0.95), { soft: 1.2 });
    // Papillary muscles and trabeculae: dark dots inside the cavity, labelled LV as in ACDC.
    for (let k = randInt(rng, 1, 3); k > 0; k--) {
      const a = rng() * 2 * Math.PI;
      const d = lvR * uniform(rng, 0.45, 0.75);
      paint(
        img,
        size,
        circle(hx + Math.cos(a) * d, hy + Math.sin(a) * d, lvR * uniform(rng, 0.1, 0.2)),
        0.25,
        {
          soft: 1.5,
        },
      );
    }

    biasField(img, size, rng, uniform(rng, 0.08, 0.15));
    blur(img, size, s / 300);
    ricianNoise(img, rng, uniform(rng, 0.025, 0.05));

    const lvMask = shapeMask(size, lv);
    return {
      image: greyImage(img, size),
      masks: {
        lv: lvMask,
        myo: maskMinus(shapeMask(size, epi), lvMask),
        rv: shapeMask(size, rv),
      },
    };
  },
};
