import { SamConfig, SeededRng, StateDict, float32Tensor, expectedStateDict } from '@casam/casam-core';

const NORM_WEIGHT = /norm\w*\.weight$|neck\.[13]\.weight$|(downscaling\.[14]|upscaling\.1)\.weight$/;
const NORM_BIAS = /norm\w*\.bias$|neck\.[13]\.bias$|(downscaling\.[14]|upscaling\.1)\.bias$/;
const EMBEDDING = /embed(dings\.\d)?\.weight$|tokens?\.weight$/;

/** PyTorch's fan_in for a weight: dim 1 × kernel (ConvTranspose2d too, as torch computes it from dim 1). */
function fanIn(shape: readonly number[]): number {
  return shape.slice(1).reduce((a, b) => a * b, 1);
}

/**
 * A from-scratch initialisation of SAM for pretraining, following what the official modules get from
 * PyTorch's defaults: Linear/Conv weights and biases U(±1/√fan_in) (kaiming_uniform with a = √5), LayerNorm
 * weight 1 and bias 0, nn.Embedding N(0, 1), the random-Fourier matrix N(0, 1) (scale 1; it is a frozen
 * buffer, so this draw is permanent), rel-pos tables 0 (as the official Attention creates them). The absolute
 * pos_embed, zeros in the official code, gets N(0, 0.02²) as in ViT practice so positions are distinguishable
 * from the first step. Deterministic in `seed`; names, shapes and order are the official ones.
 */
export function initSamStateDict(cfg: SamConfig, seed: number): StateDict {
  const rng = new SeededRng(seed);
  const expected = expectedStateDict(cfg);
  const shapes = new Map(expected.map((e) => [e.name, e.shape]));
  const sd: StateDict = new Map();
  for (const { name, shape } of expected) {
    const t = float32Tensor([...shape]);
    const d = t.data as Float32Array;
    const uniform = (bound: number): void => {
      for (let i = 0; i < d.length; i++) d[i] = bound * (2 * rng.next() - 1);
    };
    const normal = (std: number): void => {
      for (let i = 0; i < d.length; i++) d[i] = std * rng.normal();
    };
    if (NORM_WEIGHT.test(name)) d.fill(1);
    else if (NORM_BIAS.test(name)) d.fill(0);
    else if (name.endsWith('positional_encoding_gaussian_matrix') || EMBEDDING.test(name)) normal(1);
    else if (name.endsWith('.pos_embed')) normal(0.02);
    else if (/rel_pos_[hw]$/.test(name)) d.fill(0);
    else if (name.endsWith('.weight')) uniform(1 / Math.sqrt(fanIn(shape)));
    else if (name.endsWith('.bias')) {
      const w = shapes.get(name.slice(0, -'.bias'.length) + '.weight');
      uniform(w ? 1 / Math.sqrt(fanIn(w)) : 0.01);
    } else throw new Error(`initSamStateDict: no rule for ${name}`);
    sd.set(name, t);
  }
  return sd;
}
