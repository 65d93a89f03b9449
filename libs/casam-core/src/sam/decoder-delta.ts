import { tf } from './tf';

/**
 * A per-call change of some of the frozen mask decoder's Linear weights (e.g. a task's low-rank delta,
 * casam/decoder-lora.ts). The decoder asks it for the weight of each Linear it runs; the frozen weights are never
 * written. Without a delta the decoder runs exactly as before (no extra ops).
 */
export interface DecoderDelta {
  /**
   * The weight to use for the Linear `name` (relative to `mask_decoder`, e.g.
   * `transformer.layers.0.self_attn.q_proj`), TF layout [in,out]; `frozen` is the model's own. Called inside the
   * decoder's tidy (and gradient tape), once per Linear per forward; returns `frozen` itself for layers it leaves
   * alone.
   */
  weight(name: string, frozen: tf.Tensor2D): tf.Tensor2D;
}

/** A Linear layer of the decoder with its name relative to `mask_decoder`. */
export interface NamedLinear {
  name: string;
  w: tf.Tensor2D;
  b: tf.Tensor1D | null;
}

/** The weights `l` runs with under `delta`. */
export function effectiveLinear(
  l: NamedLinear,
  delta?: DecoderDelta,
): { w: tf.Tensor2D; b: tf.Tensor1D | null } {
  return delta ? { w: delta.weight(l.name, l.w), b: l.b } : l;
}
