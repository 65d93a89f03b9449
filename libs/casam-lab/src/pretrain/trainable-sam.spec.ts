import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  tf,
  initBackend,
  getPreset,
  ParamLayoutError,
  ParamStore,
  buildSam,
  preprocess,
  StateDict,
  toFloat32,
  expectedStateDict,
  validateStateDict,
  createAdam,
} from '@casam/casam-core';
import { createGenericCorpus } from './generic-corpus';
import { initSamStateDict } from './init-weights';
import { TrainableSam, createTrainableSam } from './trainable-sam';

const cfg = getPreset('casam-tiny');
const S = cfg.imgSize;

function sameStateDict(a: StateDict, b: StateDict): boolean {
  if (a.size !== b.size) return false;
  for (const [k, t] of a) {
    const u = b.get(k);
    if (!u || u.shape.join() !== t.shape.join()) return false;
    const x = toFloat32(t);
    const y = toFloat32(u);
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
  }
  return true;
}

describe('trainable SAM (casam-tiny, wasm)', () => {
  let sd: StateDict;
  let model: TrainableSam;
  let image: tf.Tensor4D;

  beforeAll(async () => {
    await initBackend({ prefer: 'wasm', log: () => undefined });
    sd = initSamStateDict(cfg, 3);
    model = createTrainableSam(cfg, sd);
    const sample = createGenericCorpus({ seed: 11, targetsPerImage: 1 }).sample(0);
    image = tf.tensor4d(preprocess(sample.image, S, S, cfg).data as Float32Array, [1, 3, S, S]);
  });
  afterAll(() => {
    image.dispose();
    model.dispose();
  });

  it('the from-scratch initialisation is a valid casam-tiny checkpoint, deterministic by seed', () => {
    expect(() => validateStateDict(sd, cfg)).not.toThrow();
    expect(sameStateDict(initSamStateDict(cfg, 3), sd)).toBe(true);
    expect(sameStateDict(initSamStateDict(cfg, 4), sd)).toBe(false);
  });

  it('has a variable for every official parameter except the frozen random-Fourier buffer', () => {
    const names = expectedStateDict(cfg).map((e) => e.name);
    expect([...model.variables.keys()]).toEqual(
      names.filter((n) => !n.endsWith('positional_encoding_gaussian_matrix')),
    );
    for (const v of model.variables.values()) expect(v.trainable).toBe(true);
  });

  /** A loss that uses every output of every path: box, points (positive, negative, padding), mask prompt. */
  const fullLoss = (): tf.Scalar => {
    const { sam } = model;
    const emb = sam.imageEncoder.forward(image);
    const box = sam.promptEncoder.encode({ boxes: tf.tensor2d([[40, 50, 180, 200]]) });
    const points = {
      coords: tf.tensor3d([
        [
          [100, 120],
          [30, 30],
        ],
      ]),
      labels: tf.tensor2d([[1, 0]]),
    };
    const pts = sam.promptEncoder.encode({ points });
    const maskIn = tf.reshape(tf.mul(tf.sin(tf.range(0, 64 * 64)), 3), [1, 1, 64, 64]) as tf.Tensor4D;
    const withMask = sam.promptEncoder.encode({ points, masks: maskIn });
    let total: tf.Tensor = tf.scalar(0);
    for (const p of [box, pts, withMask]) {
      const out = sam.maskDecoder.predictMasks(emb, sam.densePe, p.sparse, p.dense);
      total = tf.add(total, tf.add(tf.mean(tf.sigmoid(out.masks)), tf.mean(out.iou)));
    }
    return total as tf.Scalar;
  };

  it('gradients reach every trainable parameter: finite and mostly non-zero; no tensors leak', () => {
    const before = tf.memory().numTensors;
    const vars = [...model.variables.values()];
    const { value, grads } = tf.variableGrads(fullLoss, vars);
    let total = 0;
    let nonZero = 0;
    const missing: string[] = [];
    const allZero: string[] = [];
    for (const [name, v] of model.variables) {
      const g = grads[v.name];
      if (!g) {
        missing.push(name);
        continue;
      }
      expect(g.shape).toEqual(v.shape);
      const d = g.dataSync();
      expect(d.every(Number.isFinite)).toBe(true);
      let nz = 0;
      for (const x of d) if (x !== 0) nz++;
      if (nz === 0) allZero.push(name);
      total += d.length;
      nonZero += nz;
    }
    tf.dispose([value, ...Object.values(grads)]);
    expect(missing).toEqual([]);
    expect(allZero).toEqual([]);
    console.log(`trainable SAM: ${nonZero}/${total} gradient entries non-zero over ${vars.length} variables`);
    expect(nonZero / total).toBeGreaterThan(0.9);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('the gradient through the training-mode derivations (q/k/v split, rel-pos) matches finite differences', () => {
    const name = 'image_encoder.blocks.0.attn.qkv.weight';
    const v = model.variables.get(name)!;
    const loss = (): tf.Scalar =>
      tf.tidy(() => tf.sum(tf.mul(model.sam.imageEncoder.forward(image), 0.01)) as tf.Scalar);
    const { value, grads } = tf.variableGrads(loss, [v]);
    const g = grads[v.name].dataSync() as Float32Array; // TF layout [in, out]
    value.dispose();
    // The largest entries in the q, k and v thirds of the fused weight.
    const out = (v.shape as number[])[1];
    const picks = [0, 1, 2].map((third) => {
      let best = -1;
      for (let i = 0; i < g.length; i++) {
        const col = i % out;
        if (Math.floor(col / (out / 3)) !== third) continue;
        if (best < 0 || Math.abs(g[i]) > Math.abs(g[best])) best = i;
      }
      return best;
    });
    const base = Float32Array.from(v.dataSync() as Float32Array);
    const h = 1e-2;
    for (const i of picks) {
      const at = (delta: number): number => {
        const d = Float32Array.from(base);
        d[i] += delta;
        tf.tidy(() => v.assign(tf.tensor(d, v.shape)));
        let s = 0;
        const y = tf.tidy(() => tf.mul(model.sam.imageEncoder.forward(image), 0.01));
        for (const x of y.dataSync()) s += x;
        y.dispose();
        return s;
      };
      const fd = (at(h) - at(-h)) / (2 * h);
      expect(Math.abs(fd - g[i])).toBeLessThanOrEqual(0.02 * Math.abs(g[i]) + 1e-3);
    }
    tf.tidy(() => v.assign(tf.tensor(base, v.shape)));
    tf.dispose(Object.values(grads));
  });

  it('exports official names and layouts that validate, round-trip bit for bit, and run identically in inference mode', () => {
    // Change the weights first, so the round trip is not just the initial state dict handed back.
    const adam = createAdam(model.variables, { lr: 1e-3, clipNorm: 1 });
    const { value, grads } = tf.variableGrads(fullLoss, [...model.variables.values()]);
    const byName = new Map<string, tf.Tensor>();
    for (const [n, v] of model.variables) byName.set(n, grads[v.name]);
    adam.applyGradientsAt(byName, 1e-2).dispose();
    tf.dispose([value, ...Object.values(grads)]);
    adam.dispose();

    const exported = model.stateDict();
    expect(() => validateStateDict(exported, cfg)).not.toThrow();
    expect([...exported.keys()]).toEqual(expectedStateDict(cfg).map((e) => e.name));
    expect(sameStateDict(exported, sd)).toBe(false);
    // The frozen PE buffer is untouched.
    const pe = 'prompt_encoder.pe_layer.positional_encoding_gaussian_matrix';
    expect(Array.from(toFloat32(exported.get(pe)!))).toEqual(Array.from(toFloat32(sd.get(pe)!)));

    const again = createTrainableSam(cfg, exported);
    expect(sameStateDict(again.stateDict(), exported)).toBe(true);
    again.dispose();

    // The inference model (pre-split q/k/v, plain tensors) computes what the training model computes.
    const sam = buildSam(cfg, exported);
    const run = (s: typeof sam): Float32Array =>
      tf
        .tidy(() => {
          const emb = s.imageEncoder.forward(image);
          const p = s.promptEncoder.encode({ boxes: tf.tensor2d([[40, 50, 180, 200]]) });
          return s.maskDecoder.forward(emb, s.densePe, p.sparse, p.dense, true).masks;
        })
        .dataSync() as Float32Array;
    const a = run(model.sam);
    const b = run(sam);
    sam.dispose();
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    expect(worst).toBeLessThanOrEqual(1e-5);
  });

  it('training mode refuses one weight in two layouts (two copies would diverge); inference mode allows it', () => {
    const trainStore = ParamStore.trainable(sd);
    trainStore.raw('mask_decoder.iou_prediction_head.layers.0.weight');
    expect(() => trainStore.linear('mask_decoder.iou_prediction_head.layers.0')).toThrow(ParamLayoutError);
    trainStore.dispose();
    const plain = new ParamStore(sd);
    plain.raw('mask_decoder.iou_prediction_head.layers.0.weight');
    expect(() => plain.linear('mask_decoder.iou_prediction_head.layers.0')).not.toThrow();
    plain.dispose();
  });
});
