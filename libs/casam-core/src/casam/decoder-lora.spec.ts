import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decoderLoraDims, decoderLoraLayerSpecs } from '@casam/protocol';
import { tf } from '../sam/tf';
import { SAM_PRESETS, getPreset } from '../sam/config';
import { buildSam, type Sam } from '../sam/sam';
import { expectedStateDict } from '../sam/expected-keys';
import { StateDict, float32Tensor } from '../tensor/host-tensor';
import { createRng, normalArray } from '../random/seeded-random';
import { samMiniWeights } from '../trainer/trainer-fixtures.testing';
import { useBackend } from './casam-fixtures.testing';
import { assertDecoderLoraFits, createDecoderLora, mergeDecoderLora } from './decoder-lora';

const CFG = getPreset('sam-mini');
const C = CFG.outChans;

/** Fixed decoder inputs: 2 prompts (a box and a point) on one image. */
function inputs(sam: Sam): { emb: tf.Tensor4D; sparse: tf.Tensor3D; dense: tf.Tensor4D } {
  const g = CFG.imgSize / CFG.patchSize;
  const rng = createRng(5);
  const emb = tf.tensor4d(normalArray(C * g * g, rng), [1, C, g, g]);
  const { sparse, dense } = sam.promptEncoder.encode({
    boxes: tf.tensor2d([10, 20, 120, 140, 60, 30, 200, 220], [2, 4]),
  });
  return { emb, sparse, dense };
}

function run(sam: Sam, x: ReturnType<typeof inputs>, delta?: Parameters<Sam['maskDecoder']['forward']>[6]) {
  const out = sam.maskDecoder.predictMasks(x.emb, sam.densePe, x.sparse, x.dense, undefined, delta);
  const r = { masks: out.masks.dataSync() as Float32Array, iou: out.iou.dataSync() as Float32Array };
  tf.dispose([out.masks, out.iou]);
  return r;
}

/** A state dict of the delta with B drawn at random (A as initialised), so the delta is not zero. */
function randomB(lora: ReturnType<typeof createDecoderLora>, seed: number): StateDict {
  const rng = createRng(seed);
  const sd = lora.stateDict();
  for (const [k, v] of sd)
    if (k.endsWith('.B')) {
      const d = normalArray(v.data.length, rng).map((e) => e * 0.2);
      sd.set(k, float32Tensor([...v.shape], d));
    }
  return sd;
}

const maxAbsDiff = (a: Float32Array, b: Float32Array): number =>
  a.reduce((m, e, i) => Math.max(m, Math.abs(e - b[i])), 0);

describe('decoder LoRA delta', () => {
  let sam: Sam;
  let x: ReturnType<typeof inputs>;

  beforeAll(async () => {
    await useBackend('cpu');
    sam = buildSam(CFG, samMiniWeights().sd);
    x = inputs(sam);
  });
  afterAll(() => {
    tf.dispose([x.emb, x.sparse, x.dense]);
    sam.dispose();
  });

  it('matches the schema shapes to every SAM preset and to the official decoder names', () => {
    for (const name of Object.keys(SAM_PRESETS)) {
      const cfg = getPreset(name);
      expect(() => assertDecoderLoraFits(cfg)).not.toThrow();
      const official = new Map(expectedStateDict(cfg, ['mask_decoder']).map((t) => [t.name, t.shape]));
      for (const s of decoderLoraLayerSpecs(decoderLoraDims(cfg.outChans)))
        expect(official.get(`mask_decoder.${s.name}.weight`), s.name).toEqual([s.outDim, s.inDim]);
    }
    expect(() => assertDecoderLoraFits({ ...CFG, decoderTransformerDepth: 3 })).toThrow(/differs/);
  });

  it('starts with B = 0, A kaiming-uniform, rank 4 and scale alpha/rank; seeded', () => {
    const lora = createDecoderLora({ channels: C, seed: 7 });
    const again = createDecoderLora({ channels: C, seed: 7 });
    try {
      expect(lora.rank).toBe(4);
      expect(lora.scale).toBe(1);
      expect(lora.layers).toHaveLength(40);
      const sd = lora.stateDict();
      const a = sd.get('transformer.layers.0.self_attn.q_proj.A')!;
      expect(a.shape).toEqual([4, 64]);
      expect(Math.max(...(a.data as Float32Array).map(Math.abs))).toBeLessThanOrEqual(1 / 8);
      expect(
        [...(sd.get('transformer.layers.0.self_attn.q_proj.B')!.data as Float32Array)].every((v) => v === 0),
      ).toBe(true);
      expect(again.stateDict()).toEqual(sd);
      expect(lora.parameterCount()).toBe([...sd.values()].reduce((n, t) => n + t.data.length, 0));
    } finally {
      lora.dispose();
      again.dispose();
    }
  });

  it('with B = 0 the decoder output is bit-identical to the frozen decoder', () => {
    const lora = createDecoderLora({ channels: C, seed: 1 });
    try {
      const frozen = run(sam, x);
      const zero = run(sam, x, lora);
      expect(zero.masks).toEqual(frozen.masks);
      expect(zero.iou).toEqual(frozen.iou);
    } finally {
      lora.dispose();
    }
  });

  it('with random B it equals a decoder whose weights were merged, W + (alpha/rank)·B·A', () => {
    const init = createDecoderLora({ channels: C, rank: 3, alpha: 6, seed: 2 });
    const lora = createDecoderLora({ channels: C, rank: 3, alpha: 6, stateDict: randomB(init, 3) });
    init.dispose();
    const merged = buildSam(CFG, mergeDecoderLora(samMiniWeights().sd, lora));
    try {
      const viaDelta = run(sam, x, lora);
      const viaMerged = run(merged, x);
      const frozen = run(sam, x);
      expect(maxAbsDiff(viaDelta.masks, frozen.masks)).toBeGreaterThan(1e-2); // the delta does something
      expect(maxAbsDiff(viaDelta.masks, viaMerged.masks)).toBeLessThanOrEqual(1e-5);
      expect(maxAbsDiff(viaDelta.iou, viaMerged.iou)).toBeLessThanOrEqual(1e-5);
    } finally {
      lora.dispose();
      merged.dispose();
    }
  });

  it('a delta on some layers leaves the others frozen, and the frozen weights are never written', () => {
    const layers = [
      'transformer.layers.1.cross_attn_token_to_image.v_proj',
      'output_hypernetworks_mlps.0.layers.2',
    ];
    const init = createDecoderLora({ channels: C, layers, seed: 4 });
    const lora = createDecoderLora({ channels: C, layers, stateDict: randomB(init, 9) });
    init.dispose();
    const merged = mergeDecoderLora(samMiniWeights().sd, lora);
    try {
      const changed = [...merged].filter(([k, v]) => v !== samMiniWeights().sd.get(k)).map(([k]) => k);
      expect(changed).toEqual(layers.map((l) => `mask_decoder.${l}.weight`));
      const before = run(sam, x);
      run(sam, x, lora);
      expect(run(sam, x)).toEqual(before);
    } finally {
      lora.dispose();
    }
  });

  it('refuses ranks over the limit, unknown layers and state dicts that do not fit', () => {
    expect(() => createDecoderLora({ channels: C, rank: 17 })).toThrow(/rank must be an integer in 1\.\.16/);
    expect(() => createDecoderLora({ channels: C, layers: ['transformer.layers.0.norm1'] })).toThrow(
      /not a decoder layer/,
    );
    const other = createDecoderLora({ channels: C, rank: 2 });
    expect(() => createDecoderLora({ channels: C, rank: 4, stateDict: other.stateDict() })).toThrow(
      /does not fit/,
    );
    other.dispose();
  });

  it('leaks no tensors: forward with a delta, gradients through it, dispose', () => {
    const before = tf.memory().numTensors;
    const lora = createDecoderLora({ channels: C, seed: 1 });
    const vars = [...lora.namedVariables().values()];
    const { value, grads } = tf.variableGrads(() => {
      const out = sam.maskDecoder.forward(x.emb, sam.densePe, x.sparse, x.dense, false, undefined, lora);
      return tf.sum(out.masks) as tf.Scalar;
    }, vars);
    // B starts at zero, so only B gets a gradient on the first step (A's is B-scaled, i.e. zero).
    const gB = grads[lora.namedVariables().get('transformer.layers.0.self_attn.q_proj.B')!.name];
    expect(Math.max(...(gB.dataSync() as Float32Array).map(Math.abs))).toBeGreaterThan(0);
    tf.dispose([value, ...Object.values(grads)]);
    run(sam, x, lora);
    lora.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
