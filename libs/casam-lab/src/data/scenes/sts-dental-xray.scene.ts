import {
  Shape,
  addNoise,
  blob,
  blur,
  chance,
  circle,
  contrast,
  field,
  fractalNoise,
  greyImage,
  intersect,
  paint,
  randomWobble,
  scan,
  stroke,
  uniform,
  union,
} from '../draw';
import { DomainDefinition, curveBand, randomFrame } from './scene';

/** Half-widths of the teeth from the midline outwards (incisors to third molar), in anatomy units. */
const TOOTH_WIDTHS = [0.045, 0.04, 0.05, 0.05, 0.05, 0.07, 0.07, 0.065];

/**
 * Panoramic dental X-ray (STS-2D-like), cropped and zoomed: two arches of bright teeth (enamel brightest,
 * dark pulp canal) in trabecular jaw bone, with metal restorations (brighter than any tooth, but labelled
 * tooth), the dark air band of the tongue, and spine ghosts at the sides.
 */
export const stsDentalXray: DomainDefinition = {
  name: 'sts-dental-xray',
  modality: 'X-ray',
  classes: ['tooth'],
  description: 'panoramic dental X-ray: teeth',
  unseen: false,
  render(rng, s) {
    const F = randomFrame(rng, s, { rotate: 6, scale: [0.95, 1.5], shift: 0.1 });
    const size = F.size;
    const bone = contrast(fractalNoise(size, rng, { cell: s / 24, octaves: 3, gain: 0.6 }), 2.5);
    const img = field(size, 0);
    for (let y = 0; y < s; y++)
      for (let x = 0; x < s; x++) {
        // Soft-tissue gradient: darker towards the top corners, lighter at the jaw line.
        const i = y * s + x;
        img[i] = 0.2 + 0.06 * bone[i] + 0.1 * Math.sin((Math.PI * y) / s);
      }
    const smile = uniform(rng, 0.12, 0.3);
    // The occlusal curve smiles: the arches rise towards the molars.
    const occ = (u: number) => -smile * u * u + 0.05;
    // Mandible and maxilla: bands of trabecular bone along the occlusal curve.
    const band = (dv: number, thick: number): Shape => curveBand(F, (u) => occ(u) + dv, thick);
    const boneTone = new Float32Array(bone.length);
    for (let i = 0; i < bone.length; i++) boneTone[i] = 0.42 + 0.3 * bone[i];
    paint(img, size, band(0.32, 0.5), boneTone, { soft: 8 });
    paint(img, size, band(-0.3, 0.45), boneTone, { soft: 8 });
    paint(img, size, band(-0.01, uniform(rng, 0.04, 0.08)), 0.1, { soft: 4 }); // air between the lips
    paint(img, size, band(-0.62, 0.12), 0.12, { soft: 10 }); // palate/tongue air band
    for (const side of [-1, 1])
      paint(
        img,
        size,
        stroke(
          [
            [F.x(side * 1.15, -1.5), F.y(side * 1.15, -1.5)],
            [F.x(side * 1.1, 1.5), F.y(side * 1.1, 1.5)],
          ],
          F.len(0.25),
        ),
        0.55,
        { soft: 12 },
      );

    const mask = new Uint8Array(s * s);
    for (const jaw of [-1, 1]) {
      // jaw −1: upper (roots up), +1: lower (roots down).
      for (const side of [-1, 1]) {
        let u = 0;
        for (let k = 0; k < TOOTH_WIDTHS.length; k++) {
          const hw = TOOTH_WIDTHS[k] * uniform(rng, 0.9, 1.1);
          u += hw;
          const cu = side * u;
          u += hw + 0.006;
          if (chance(rng, 0.08)) continue; // missing tooth
          const v0 = occ(cu) + jaw * 0.015;
          const slope = 2 * smile * cu;
          const tilt = Math.atan(slope) + uniform(rng, -0.08, 0.08);
          const rootLen = (k < 3 ? 0.3 : 0.25) * uniform(rng, 0.9, 1.1);
          const dir = (l: number): [number, number] => {
            const du = -Math.sin(tilt) * jaw * l;
            const dv = Math.cos(tilt) * jaw * l;
            return [F.x(cu + du, v0 + dv), F.y(cu + du, v0 + dv)];
          };
          const crownH = k < 3 ? 0.13 : 0.12;
          const crown = blob({
            cx: dir(crownH * 0.6)[0],
            cy: dir(crownH * 0.6)[1],
            r: F.len(hw * 0.95),
            aspect: (crownH * 0.65) / hw,
            angle: F.angle(tilt),
            wobble: randomWobble(rng, 0.04, 2),
          });
          const roots: Shape[] = [];
          const nRoots = k >= 5 ? 2 : 1;
          for (let r = 0; r < nRoots; r++) {
            const off = nRoots === 2 ? (r - 0.5) * hw * 0.9 : 0;
            const a = [dir(crownH)[0], dir(crownH)[1]] as [number, number];
            const sideU = (l: number, o: number): [number, number] => {
              const p = dir(l);
              return [p[0] + Math.cos(F.angle(tilt)) * F.len(o), p[1] + Math.sin(F.angle(tilt)) * F.len(o)];
            };
            roots.push(
              stroke(
                [a, sideU(crownH + rootLen * 0.5, off * 0.8), sideU(crownH + rootLen, off * 1.1)],
                [
                  F.len(hw * (nRoots === 2 ? 1.0 : 1.8)),
                  F.len(hw * (nRoots === 2 ? 0.75 : 1.3)),
                  F.len(hw * 0.45),
                ],
              ),
            );
          }
          const tooth = union(crown, ...roots);
          // Roots are barely brighter than the bone around them; a dark periodontal line outlines them.
          // Line and tooth from one sdf per pixel (the union of crown and roots is the costly part).
          const pdl = F.len(0.012) / 2;
          const tone = uniform(rng, 0.55, 0.65);
          scan(size, tooth, pdl + 1, (i, d) => {
            const line = Math.min(1, Math.max(0, 0.5 - (Math.abs(d) - pdl) / 1.2));
            img[i] += (0.3 - img[i]) * line;
            const body = Math.min(1, Math.max(0, 0.5 - d / 1.5));
            img[i] += (tone - img[i]) * body;
            if (d <= 0) mask[i] = 1;
          });
          paint(img, size, crown, uniform(rng, 0.8, 0.9), { soft: 1.5 });
          paint(img, size, stroke([dir(crownH * 0.5), dir(crownH + rootLen * 0.9)], F.len(hw * 0.2)), 0.45, {
            soft: 1.5,
          });
          if (k >= 3 && chance(rng, 0.25)) {
            // A metal filling: the brightest thing in the image, still part of the tooth.
            const c = dir(crownH * uniform(rng, 0.3, 0.6));
            paint(img, size, intersect(circle(c[0], c[1], F.len(hw * uniform(rng, 0.5, 0.8))), crown), 1.1);
          }
        }
      }
    }
    blur(img, size, s / 250);
    addNoise(img, rng, 0.02);
    return { image: greyImage(img, size), masks: { tooth: mask } };
  },
};
