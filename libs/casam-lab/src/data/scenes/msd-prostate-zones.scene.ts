import { biasField, field, greyImage, ricianNoise, shapeMask, softenResolution, uniform } from '../draw';
import { drawPelvis } from './pelvis-mr';
import { DomainDefinition, randomFrame } from './scene';

/**
 * Prostate T2 MR with zonal labels (MSD Task05-like): a thick-slice, low-resolution look (rendered at a
 * third of the size and interpolated up), low SNR. The bright bladder is the distractor; the transition
 * zone is darker than its surroundings and nodular.
 */
export const msdProstateZones: DomainDefinition = {
  name: 'msd-prostate-zones',
  modality: 'MR',
  classes: ['peripheral-zone', 'transition-zone'],
  description: 'prostate T2 MR, axial, low resolution: peripheral zone, transition zone',
  unseen: false,
  render(rng, s) {
    const F = randomFrame(rng, s, { rotate: 12, scale: [1.3, 1.8], shift: 0.05 });
    const size = F.size;
    const img = field(size, 0.02);
    const { pz, tz } = drawPelvis(img, F, rng, { fat: 0.62, muscle: 0.2, pz: 0.55, tz: 0.3, urine: 0.95 });
    biasField(img, size, rng, uniform(rng, 0.06, 0.12));
    softenResolution(img, size, uniform(rng, 2.5, 3.5));
    ricianNoise(img, rng, uniform(rng, 0.04, 0.07));
    return {
      image: greyImage(img, size),
      masks: { 'peripheral-zone': shapeMask(size, pz), 'transition-zone': shapeMask(size, tz) },
    };
  },
};
