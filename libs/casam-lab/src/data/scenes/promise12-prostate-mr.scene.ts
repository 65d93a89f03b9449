import { blur, circle, field, greyImage, paint, ricianNoise, shapeMask, shell, uniform, dist } from '../draw';
import { drawPelvis } from './pelvis-mr';
import { DomainDefinition, randomFrame } from './scene';

/**
 * Prostate T2 MR with an endorectal coil (PROMISE12-like): sharp, high resolution, a dark coil balloon in the
 * rectum and the coil's steep near-field brightening, so the posterior gland and rectal wall glare while the
 * far field is dim. One whole-gland label.
 */
export const promise12ProstateMr: DomainDefinition = {
  name: 'promise12-prostate-mr',
  modality: 'MR',
  classes: ['prostate'],
  description: 'prostate T2 MR with endorectal coil, axial: whole gland',
  unseen: false,
  render(rng, s) {
    const F = randomFrame(rng, s, { rotate: 15, scale: [1.5, 2.1], shift: 0.05 });
    const size = F.size;
    const img = field(size, 0.03);
    const { gland, rectum } = drawPelvis(img, F, rng, {
      fat: 0.5,
      muscle: 0.16,
      pz: 0.42,
      tz: 0.22,
      urine: 0.6,
    });
    const coil = circle(rectum[0], rectum[1], F.len(uniform(rng, 0.08, 0.11)));
    paint(img, size, coil, 0.01);
    paint(img, size, shell(coil, F.len(0.012)), 0.25);
    // Near-field gain of a surface coil: falls off over a few centimetres from the rectum.
    const gain = uniform(rng, 1.2, 2.4);
    const fall = F.len(uniform(rng, 0.25, 0.4));
    const far = uniform(rng, 0.45, 0.7);
    for (let y = 0; y < s; y++)
      for (let x = 0; x < s; x++) {
        const d = dist(x - rectum[0], y - rectum[1]);
        img[y * s + x] *= far + gain * Math.exp(-d / fall);
      }
    blur(img, size, 0.5);
    ricianNoise(img, rng, uniform(rng, 0.012, 0.025));
    return { image: greyImage(img, size), masks: { prostate: shapeMask(size, gland) } };
  },
};
