import {
  blob,
  boxBlur,
  chance,
  contrast,
  field,
  fractalNoise,
  gauss,
  greyImage,
  paint,
  randInt,
  randomWobble,
  uniform,
} from '../draw';
import { DomainDefinition } from './scene';

/**
 * Breast ultrasound (BUSI-like), an UNSEEN domain: speckle everywhere, horizontal tissue layers (bright skin
 * line, dark fat lobules, brighter glandular tissue, striated muscle), depth attenuation, and a dark
 * (hypoechoic) irregular lesion with either a bright band (enhancement) or a shadow below it.
 */
export const breastUltrasoundLesion: DomainDefinition = {
  name: 'breast-ultrasound-lesion',
  modality: 'ultrasound',
  classes: ['lesion'],
  description: 'breast ultrasound B-mode: lesion (unseen domain)',
  unseen: true,
  render(rng, s) {
    const size = { width: s, height: s };
    const px = s / 256;
    const echo = field(size, 0);
    const layers = fractalNoise(size, rng, { cell: s / 3, octaves: 3, angle: 0, stretch: 4 });
    const skin = s * uniform(rng, 0.04, 0.08);
    const muscle = s * uniform(rng, 0.7, 0.85);
    for (let y = 0; y < s; y++)
      for (let x = 0; x < s; x++) {
        const i = y * s + x;
        const wavy = (layers[i] - 0.5) * s * 0.15;
        const yy = y + wavy;
        let v: number;
        if (y < skin * 0.5) v = 0.02;
        else if (y < skin) v = 0.9;
        else if (yy < s * 0.35) v = 0.25 + 0.25 * layers[i];
        else if (yy < muscle) v = 0.45 + 0.35 * layers[i];
        else v = 0.35 + 0.4 * (Math.sin((yy / (6 * px)) * Math.PI) > 0.3 ? 1 : 0);
        echo[i] = v;
      }
    // Fat lobules: dark ellipses in the upper layers.
    for (let k = randInt(rng, 3, 8); k > 0; k--)
      paint(
        echo,
        size,
        blob({
          cx: rng() * s,
          cy: uniform(rng, 0.12, 0.45) * s,
          r: uniform(rng, 0.04, 0.1) * s,
          aspect: 0.45,
          wobble: randomWobble(rng, 0.1),
        }),
        0.18,
        { soft: 3 },
      );
    const lr = s * uniform(rng, 0.08, 0.2);
    const lx = s * uniform(rng, 0.25, 0.75);
    const ly = s * uniform(rng, 0.35, 0.6);
    const lesion = blob({
      cx: lx,
      cy: ly,
      r: lr,
      aspect: uniform(rng, 0.5, 0.9),
      angle: uniform(rng, -0.3, 0.3),
      wobble: randomWobble(rng, chance(rng, 0.5) ? 0.25 : 0.08, 4),
    });
    const mask = new Uint8Array(s * s);
    paint(echo, size, lesion, uniform(rng, 0.04, 0.15), { soft: uniform(rng, 1.5, 4), mask });
    const below = chance(rng, 0.5) ? 1.5 : 0.45;
    for (let y = Math.floor(ly); y < s; y++)
      for (let x = 0; x < s; x++) {
        // A soft-edged column under the lesion: posterior enhancement (> 1) or acoustic shadow (< 1).
        const across = Math.max(0, 1 - (Math.abs(x - lx) / (lr * 0.9)) ** 4);
        const down = Math.min(1, Math.max(0, (y - ly) / lr));
        if (!mask[y * s + x]) echo[y * s + x] *= 1 + (below - 1) * across * down;
      }
    // Speckle: Rayleigh amplitude of summed scatterers, smeared laterally (the beam is wider than the pulse).
    const sp = new Float32Array(s * s);
    for (let i = 0; i < sp.length; i++) {
      const a = gauss(rng);
      const b = gauss(rng);
      sp[i] = Math.sqrt(a * a + b * b);
    }
    boxBlur(sp, size, 1);
    for (let y = 0; y < s; y++) {
      const att = 1.1 * Math.exp(-(y / s) * uniform(rng, 0.6, 0.62));
      for (let x = 0; x < s; x++) {
        const i = y * s + x;
        echo[i] = echo[i] * sp[i] * 0.8 * att;
      }
    }
    return { image: greyImage(contrast(echo, 1), size), masks: { lesion: mask } };
  },
};
