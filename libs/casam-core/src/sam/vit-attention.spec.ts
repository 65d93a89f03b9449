import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from './tf';
import { createVitAttention } from './vit-attention';
import { windowPartition, windowUnpartition } from './vit-block';
import { maxAbsDiff } from '../testing/fixtures';

/** Deterministic pseudo-random values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = (s / 2147483648) * 2 - 1;
  }
  return out;
}

/**
 * Direct float64 transcription of the official Attention forward (one loop per formula term), the
 * reference the tensor version must match. Weights in TF layout: qkvW [E,3E], projW [E,E].
 */
function referenceAttention(
  x: Float32Array,
  [b, s, e]: [number, number, number],
  heads: number,
  w: {
    qkvW: Float32Array;
    qkvB: Float32Array;
    projW: Float32Array;
    projB: Float32Array;
    rh: Float32Array;
    rw: Float32Array;
  },
): Float64Array {
  const n = s * s;
  const hd = e / heads;
  const scale = 1 / Math.sqrt(hd);
  const out = new Float64Array(b * n * e);
  for (let bi = 0; bi < b; bi++) {
    const qkv = new Float64Array(n * 3 * e);
    for (let t = 0; t < n; t++)
      for (let o = 0; o < 3 * e; o++) {
        let acc = w.qkvB[o];
        for (let i = 0; i < e; i++) acc += x[(bi * n + t) * e + i] * w.qkvW[i * 3 * e + o];
        qkv[t * 3 * e + o] = acc;
      }
    const merged = new Float64Array(n * e);
    for (let h = 0; h < heads; h++) {
      const q = (t: number, c: number): number => qkv[t * 3 * e + h * hd + c];
      const k = (t: number, c: number): number => qkv[t * 3 * e + e + h * hd + c];
      const v = (t: number, c: number): number => qkv[t * 3 * e + 2 * e + h * hd + c];
      for (let qi = 0; qi < n; qi++) {
        const [qh, qw] = [Math.floor(qi / s), qi % s];
        const logits = new Float64Array(n);
        for (let ki = 0; ki < n; ki++) {
          const [kh, kw] = [Math.floor(ki / s), ki % s];
          let l = 0;
          for (let c = 0; c < hd; c++)
            l +=
              q(qi, c) * scale * k(ki, c) +
              q(qi, c) * w.rh[(qh - kh + s - 1) * hd + c] +
              q(qi, c) * w.rw[(qw - kw + s - 1) * hd + c];
          logits[ki] = l;
        }
        const m = Math.max(...logits);
        let z = 0;
        for (let ki = 0; ki < n; ki++) z += logits[ki] = Math.exp(logits[ki] - m);
        for (let c = 0; c < hd; c++) {
          let acc = 0;
          for (let ki = 0; ki < n; ki++) acc += (logits[ki] / z) * v(ki, c);
          merged[qi * e + h * hd + c] = acc;
        }
      }
    }
    for (let t = 0; t < n; t++)
      for (let o = 0; o < e; o++) {
        let acc = w.projB[o];
        for (let i = 0; i < e; i++) acc += merged[t * e + i] * w.projW[i * e + o];
        out[(bi * n + t) * e + o] = acc;
      }
  }
  return out;
}

describe.each(['cpu', 'wasm'])('ViT attention (%s)', (backend) => {
  beforeAll(async () => {
    await tf.setBackend(backend);
    await tf.ready();
  });

  const [b, s, e, heads] = [2, 5, 12, 3];
  const hd = e / heads;
  const w = {
    qkvW: values(e * 3 * e, 1).map((v) => v * 0.5),
    qkvB: values(3 * e, 2).map((v) => v * 0.1),
    projW: values(e * e, 3).map((v) => v * 0.5),
    projB: values(e, 4).map((v) => v * 0.1),
    rh: values((2 * s - 1) * hd, 5),
    rw: values((2 * s - 1) * hd, 6),
  };
  const x = values(b * s * s * e, 7);
  const expected = referenceAttention(x, [b, s, e], heads, w);

  function build(maxLogitElements?: number): {
    run: () => Float32Array;
    dispose: () => void;
    tensors: tf.Tensor[];
  } {
    const tensors = [
      tf.tensor2d(w.qkvW, [e, 3 * e]),
      tf.tensor1d(w.qkvB),
      tf.tensor2d(w.projW, [e, e]),
      tf.tensor1d(w.projB),
      tf.tensor2d(w.rh, [2 * s - 1, hd]),
      tf.tensor2d(w.rw, [2 * s - 1, hd]),
    ] as const;
    const attn = createVitAttention({
      dim: e,
      numHeads: heads,
      size: s,
      qkv: { w: tensors[0], b: tensors[1] },
      proj: { w: tensors[2], b: tensors[3] },
      relPosH: tensors[4],
      relPosW: tensors[5],
      maxLogitElements,
    });
    return {
      tensors: [...tensors],
      run: () => {
        const xt = tf.tensor4d(x, [b, s, s, e]);
        const y = attn.forward(xt);
        const d = y.dataSync() as Float32Array;
        tf.dispose([xt, y]);
        return d;
      },
      dispose: () => {
        attn.dispose();
        tf.dispose([...tensors]);
      },
    };
  }

  it('matches a direct transcription of the official formula (decomposed rel-pos with unscaled q)', () => {
    const before = tf.memory().numTensors;
    const m = build();
    expect(maxAbsDiff(m.run(), expected)).toBeLessThan(2e-5);
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives the same result when (batch·head) rows are processed in chunks', () => {
    const m = build(2 * s ** 4); // 2 rows of 25×25 logits per chunk → 3 chunks for 6 rows
    expect(maxAbsDiff(m.run(), expected)).toBeLessThan(2e-5);
    m.dispose();
  });

  it('rejects rel-pos tables whose length does not match the token map', () => {
    const t = [tf.zeros([3 * e, e]), tf.zeros([e, e]), tf.zeros([2 * s + 1, hd])] as tf.Tensor2D[];
    expect(() =>
      createVitAttention({
        dim: e,
        numHeads: heads,
        size: s,
        qkv: { w: tf.transpose(t[0]), b: null },
        proj: { w: t[1], b: null },
        relPosH: t[2],
        relPosW: t[2],
      }),
    ).toThrow(/rel_pos_h: table has 11 rows but a 5×5 token map needs 9/);
    tf.dispose(t);
  });

  it('window partition pads bottom/right with zeros, orders windows row-major, and round-trips', () => {
    const [h, wd, c, ws] = [5, 7, 2, 3];
    const xs = tf.tensor4d(values(2 * h * wd * c, 9), [2, h, wd, c]);
    const { windows, hp, wp } = windowPartition(xs, ws);
    expect([hp, wp]).toEqual([6, 9]);
    expect(windows.shape).toEqual([2 * 2 * 3, ws, ws, c]);
    const wv = windows.arraySync();
    const xv = xs.arraySync();
    // Window 4 of image 1 is window-grid cell (1, 1): rows 3..5, cols 3..5; row 5 is padding.
    expect(wv[6 + 4][0][1]).toEqual(xv[1][3][4]);
    expect(wv[6 + 4][2][0]).toEqual([0, 0]);
    const back = windowUnpartition(windows, ws, { hp, wp }, { h, w: wd });
    expect(maxAbsDiff(back.dataSync(), xs.dataSync())).toBe(0);
    tf.dispose([xs, windows, back]);
  });
});
