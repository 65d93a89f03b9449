/**
 * Names and shapes of the CA-SAM tensors, in PyTorch layout and `named_parameters()` order. Pure TypeScript (no
 * TensorFlow.js) so the coordinator can check uploads without loading an ML engine.
 */

/** One expected tensor of a state dict. */
export interface CasamTensorSpec {
  name: string;
  shape: number[];
}

/** Blocks in an Alignment Layer (`AlignCNN(num_layers=3)`). */
export const ALIGN_NUM_BLOCKS = 3;
/** TaskVAE latent size. */
export const VAE_LATENT_DIM = 64;
/** TaskVAE hidden size floor: hidden = max(128, C // 2). */
export const VAE_MIN_HIDDEN_DIM = 128;
/** Largest channel count accepted anywhere (vit_h's neck has 256; this leaves room without allowing abuse). */
export const MAX_CHANNELS = 4096;

/** A channel count that no CA-SAM part can be built for. */
export class InvalidChannelsError extends Error {
  override name = 'InvalidChannelsError';
  constructor(channels: unknown) {
    super(`channels must be an integer in 1..${MAX_CHANNELS}, got ${String(channels)}`);
  }
}

export function assertChannels(channels: unknown): asserts channels is number {
  if (typeof channels !== 'number' || !Number.isInteger(channels) || channels < 1 || channels > MAX_CHANNELS)
    throw new InvalidChannelsError(channels);
}

/** ECA kernel size: t = floor((|log2 C| + 1) / 2), k = t if t is odd else t + 1 (C=64 → 3, C=256 → 5). */
export function ecaKernelSize(channels: number): number {
  assertChannels(channels);
  const t = Math.floor((Math.abs(Math.log2(channels)) + 1) / 2);
  return t % 2 === 1 ? t : t + 1;
}

/** Alignment Layer state dict (without the `align{C}.` prefix of the fixture). */
export function alignmentStateDictSpec(channels: number): CasamTensorSpec[] {
  const c = channels;
  const k = ecaKernelSize(c);
  const out: CasamTensorSpec[] = [];
  for (let i = 0; i < ALIGN_NUM_BLOCKS; i++) {
    out.push(
      { name: `blocks.${i}.conv1.weight`, shape: [c, c, 3, 3] },
      { name: `blocks.${i}.conv1.bias`, shape: [c] },
      { name: `blocks.${i}.conv2.weight`, shape: [c, c, 3, 3] },
      { name: `blocks.${i}.conv2.bias`, shape: [c] },
      { name: `blocks.${i}.eca.weight`, shape: [1, 1, k] },
    );
  }
  out.push({ name: 'norm.weight', shape: [c] }, { name: 'norm.bias', shape: [c] });
  return out;
}

/** TaskVAE sizes for a feature width C. */
export interface TaskVaeDims {
  inputDim: number;
  hiddenDim: number;
  latentDim: number;
}

export function taskVaeDims(channels: number): TaskVaeDims {
  assertChannels(channels);
  return {
    inputDim: channels,
    hiddenDim: Math.max(VAE_MIN_HIDDEN_DIM, Math.floor(channels / 2)),
    latentDim: VAE_LATENT_DIM,
  };
}

/** The TaskVAE's Linear layers as [name, in, out], in construction order. */
export function taskVaeLinears(dims: TaskVaeDims): [string, number, number][] {
  const { inputDim: c, hiddenDim: h, latentDim: l } = dims;
  return [
    ['encoder.0', c, h],
    ['fc_mu', h, l],
    ['fc_logvar', h, l],
    ['decoder.0', l, h],
    ['decoder.2', h, c],
  ];
}

/** TaskVAE state dict: `.weight` [out,in] then `.bias` [out] per Linear. */
export function taskVaeStateDictSpec(channels: number): CasamTensorSpec[] {
  return taskVaeLinears(taskVaeDims(channels)).flatMap(([name, i, o]) => [
    { name: `${name}.weight`, shape: [o, i] },
    { name: `${name}.bias`, shape: [o] },
  ]);
}

export function specParameterCount(spec: readonly CasamTensorSpec[]): number {
  return spec.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
}
