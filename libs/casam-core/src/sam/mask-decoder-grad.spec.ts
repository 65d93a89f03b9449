import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from './tf';
import { getPreset } from './config';
import { ParamStore } from './params';
import { MaskDecoder, createMaskDecoder } from './mask-decoder';
import { PromptEncoder, createPromptEncoder } from './prompt-encoder';
import { toFloat32 } from '../tensor/host-tensor';
import { fixtureTensor, loadFixture, maxAbsDiff } from '../testing/fixtures';

// The CA-SAM trainer back-propagates through the frozen decoder into the image embeddings.
const MINI = 'sam-mini/sam-mini-golden.safetensors';

describe('mask decoder gradients', () => {
  let store: ParamStore;
  let enc: PromptEncoder;
  let dec: MaskDecoder;
  let emb: tf.Tensor4D;
  let pe: tf.Tensor4D;
  let sparse: tf.Tensor3D;
  let dense: tf.Tensor4D;

  beforeAll(async () => {
    await tf.setBackend('cpu');
    await tf.ready();
    const cfg = getPreset('sam-mini');
    store = new ParamStore(loadFixture('sam-mini/sam-mini.safetensors'));
    enc = createPromptEncoder(cfg, store.scope('prompt_encoder'));
    dec = createMaskDecoder(cfg, store.scope('mask_decoder'));
    const e = fixtureTensor(MINI, 'image_embeddings');
    emb = tf.tensor4d(toFloat32(e), e.shape as [number, number, number, number]);
    pe = enc.denseEmbeddingPositional();
    const coords = tf.tensor3d([
      [
        [100, 120],
        [180, 60],
      ],
    ]);
    const labels = tf.tensor2d([[1, 0]]);
    const boxes = tf.tensor2d([[48, 64, 200, 210]]);
    ({ sparse, dense } = enc.encode({ points: { coords, labels }, boxes }));
    tf.dispose([coords, labels, boxes]);
  });
  afterAll(() => {
    tf.dispose([emb, pe, sparse, dense]);
    store.dispose();
  });

  let cpuGrad: Float32Array | undefined;
  const loss = (x: tf.Tensor4D): tf.Scalar =>
    tf.tidy(() => tf.sum(dec.predictMasks(x, pe, sparse, dense).masks));

  it('d sum(masks) / d image embeddings: shape, finite, matches central differences', () => {
    const before = tf.memory().numTensors;
    const grad = tf.grad((x: tf.Tensor) => loss(x as tf.Tensor4D))(emb);
    expect(grad.shape).toEqual([1, 64, 16, 16]);
    const g = grad.dataSync() as Float32Array;
    cpuGrad = g.slice();
    expect(g.every(Number.isFinite)).toBe(true);
    expect(g.some((v) => v !== 0)).toBe(true);
    grad.dispose();
    expect(tf.memory().numTensors).toBe(before);

    // Central differences at the two entries with the largest gradients and one typical entry. The forward
    // pass is float32, whose rounding noise (~1e-4 on the sum) dominates below h ≈ 1e-2, hence h = 0.03.
    const order = Array.from(g.keys()).sort((a, b) => Math.abs(g[b]) - Math.abs(g[a]));
    const picks = [order[0], order[1], order[Math.floor(order.length / 4)]];
    const h = 3e-2;
    const base = emb.dataSync();
    const lines: string[] = [];
    for (const i of picks) {
      const eval1 = (delta: number): number => {
        const d = Float32Array.from(base);
        d[i] += delta;
        const x = tf.tensor4d(d, emb.shape);
        const out = dec.predictMasks(x, pe, sparse, dense);
        // Sum in float64 so the float32 rounding of a 16k-term sum does not swamp the difference.
        let v = 0;
        for (const m of out.masks.dataSync() as Float32Array) v += m;
        tf.dispose([x, out.masks, out.iou]);
        return v;
      };
      const fd = (eval1(h) - eval1(-h)) / (2 * h);
      lines.push(`  entry ${i}: autodiff ${g[i].toExponential(4)} finite-difference ${fd.toExponential(4)}`);
      expect(Math.abs(fd - g[i])).toBeLessThanOrEqual(0.005 * Math.abs(g[order[0]]) + 0.02 * Math.abs(g[i]));
    }
    console.log(`decoder gradient check (h = ${h}):\n${lines.join('\n')}`);
  });

  it('gradients also reach the dense and sparse prompt embeddings', () => {
    const [gs, gd] = tf.grads((s: tf.Tensor, d: tf.Tensor) =>
      tf.sum(dec.predictMasks(emb, pe, s as tf.Tensor3D, d as tf.Tensor4D).masks),
    )([sparse, dense]);
    expect(gs.shape).toEqual(sparse.shape);
    expect(gd.shape).toEqual(dense.shape);
    expect(gs.dataSync().every(Number.isFinite) && gd.dataSync().every(Number.isFinite)).toBe(true);
    tf.dispose([gs, gd]);
  });

  it('the wasm backend computes the same gradient', async () => {
    expect(cpuGrad).toBeDefined();
    await tf.setBackend('wasm');
    await tf.ready();
    try {
      // Fresh weights on this backend; the prompt tensors move over on first use.
      const wasmStore = new ParamStore(loadFixture('sam-mini/sam-mini.safetensors'));
      const wasmDec = createMaskDecoder(getPreset('sam-mini'), wasmStore.scope('mask_decoder'));
      const grad = tf.grad((x: tf.Tensor) =>
        tf.sum(wasmDec.predictMasks(x as tf.Tensor4D, pe, sparse, dense).masks),
      )(emb);
      const d = maxAbsDiff(grad.dataSync() as Float32Array, cpuGrad!);
      console.log(`decoder gradient wasm vs cpu: max abs diff ${d.toExponential(2)}`);
      expect(d).toBeLessThanOrEqual(1e-4);
      grad.dispose();
      wasmStore.dispose();
    } finally {
      await tf.setBackend('cpu');
    }
  });
});
