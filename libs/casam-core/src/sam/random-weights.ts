import { StateDict, float32Tensor } from '../tensor/host-tensor';
import { SamPart, SAM_PARTS, expectedStateDict } from './expected-keys';
import { mulberry32 } from '../random/seeded-random';
import { SamConfig } from './config';

/**
 * A deterministic, randomly initialised state dict with the official names and shapes of a preset, for shape
 * tests and benchmarks where no checkpoint is at hand (timings do not depend on weight values). Scales keep
 * activations O(1): weights uniform in ±1/√fan_in, norm weights near 1, biases and tables small.
 */
export function randomSamStateDict(
  cfg: SamConfig,
  seed = 1,
  parts: readonly SamPart[] = SAM_PARTS,
): StateDict {
  const next = mulberry32(seed);
  const sd: StateDict = new Map();
  for (const { name, shape } of expectedStateDict(cfg, parts)) {
    const t = float32Tensor(shape);
    const d = t.data as Float32Array;
    const isNormWeight =
      /norm\w*\.weight$|neck\.[13]\.weight$|(downscaling\.[14]|upscaling\.1)\.weight$/.test(name);
    let base = 0;
    let amp: number;
    if (isNormWeight) {
      base = 1;
      amp = 0.1;
    } else if (
      name.endsWith('positional_encoding_gaussian_matrix') ||
      /embed(dings\.\d)?\.weight$|tokens\.weight$/.test(name)
    ) {
      amp = 1;
    } else if (name.endsWith('.weight') && shape.length >= 2) {
      amp = 1 / Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1));
    } else if (name.endsWith('pos_embed')) amp = 0.5;
    else amp = 0.1; // biases and rel-pos tables
    for (let i = 0; i < d.length; i++) d[i] = base + amp * (2 * next() - 1);
    sd.set(name, t);
  }
  return sd;
}
