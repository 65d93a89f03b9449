import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from './tf';
import { getPreset } from './config';
import { ParamStore } from './params';
import { ImageEncoder, createImageEncoder } from './image-encoder';
import { randomSamStateDict } from './random-weights';
import { expectClose, fixtureTensor, loadFixture } from '../testing/fixtures';
import { HostTensor, toFloat32 } from '../tensor/host-tensor';

const WEIGHTS = 'sam-mini/sam-mini.safetensors';
const GOLDEN = 'sam-mini/sam-mini-golden.safetensors';
const ATOL = 1e-4;

function toTf(h: HostTensor): tf.Tensor4D {
  return tf.tensor4d(toFloat32(h), h.shape as [number, number, number, number]);
}

/** Runs the encoder on a golden input, reading every captured stage back synchronously (tidy frees them). */
function runCaptured(
  enc: ImageEncoder,
  input: string,
): {
  out: { shape: number[]; data: Float32Array };
  stages: Map<string, { shape: number[]; data: Float32Array }>;
} {
  const stages = new Map<string, { shape: number[]; data: Float32Array }>();
  const x = toTf(fixtureTensor(GOLDEN, input));
  const y = enc.forward(x, (name, t) =>
    stages.set(name, { shape: t.shape, data: t.dataSync() as Float32Array }),
  );
  const out = { shape: y.shape, data: y.dataSync() as Float32Array };
  x.dispose();
  y.dispose();
  return { out, stages };
}

const goldenEncoderNames = (): string[] =>
  [...loadFixture(GOLDEN).keys()]
    .filter((k) => k.startsWith('encoder.'))
    .map((k) => k.slice('encoder.'.length));

describe.each(['cpu', 'wasm'])('image encoder vs official SAM (sam-mini, %s)', (backend) => {
  let store: ParamStore;
  let enc: ImageEncoder;

  beforeAll(async () => {
    await tf.setBackend(backend);
    await tf.ready();
    store = new ParamStore(loadFixture(WEIGHTS));
    enc = createImageEncoder(getPreset('sam-mini'), store.scope('image_encoder'));
  });
  afterAll(() => {
    enc.dispose();
    store.dispose();
  });

  it('matches every captured stage and image_embeddings within 1e-4', () => {
    const { out, stages } = runCaptured(enc, 'input.preprocessed');
    const names = goldenEncoderNames();
    expect(names.length).toBe(18); // patch_embed(+pos), blocks 0–3, internals of blocks 0 and 1, neck.0–3
    const report: string[] = [];
    for (const name of names) {
      const got = stages.get(name);
      if (!got) throw new Error(`stage ${name} was not captured`);
      const d = expectClose(
        got,
        fixtureTensor(GOLDEN, `encoder.${name}`),
        ATOL,
        `${backend} encoder.${name}`,
      );
      report.push(`${name}=${d.toExponential(2)}`);
    }
    const d = expectClose(
      out,
      fixtureTensor(GOLDEN, 'image_embeddings'),
      ATOL,
      `${backend} image_embeddings`,
    );
    report.push(`image_embeddings=${d.toExponential(2)}`);
    console.log(`[${backend}] max abs diff: ${report.join(' ')}`);
  });

  it('matches resize.image_embeddings for the zero-padded resize input', () => {
    const { out } = runCaptured(enc, 'resize.preprocessed');
    const d = expectClose(
      out,
      fixtureTensor(GOLDEN, 'resize.image_embeddings'),
      ATOL,
      `${backend} resize.image_embeddings`,
    );
    console.log(`[${backend}] resize.image_embeddings max abs diff ${d.toExponential(2)}`);
  });

  it('leaves no tensors behind, with and without capture', () => {
    const x = toTf(fixtureTensor(GOLDEN, 'input.preprocessed'));
    const before = tf.memory().numTensors;
    enc.forward(x).dispose();
    enc.forward(x, () => undefined).dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});

describe('image encoder shapes and errors', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
  });

  it('runs casam-tiny (window 8, no padding) from random weights; batching matches per-image runs', () => {
    const cfg = getPreset('casam-tiny');
    const store = new ParamStore(randomSamStateDict(cfg, 7, ['image_encoder']));
    const enc = createImageEncoder(cfg, store.scope('image_encoder'));
    const before = tf.memory().numTensors;
    const x = tf.randomNormal([2, 3, 256, 256], 0, 1, 'float32', 3) as tf.Tensor4D;
    const shapes = new Map<string, number[]>();
    const y = enc.forward(x, (n, t) => shapes.set(n, t.shape));
    expect(y.shape).toEqual([2, 64, 16, 16]);
    expect(shapes.get('block0.attn')).toEqual([2 * 4, 8, 8, 96]); // 2×2 windows of 8×8 per image, unpadded
    expect(shapes.get('block1.attn')).toEqual([2, 16, 16, 96]);
    expect(shapes.get('neck.3')).toEqual([2, 64, 16, 16]);
    const all = y.dataSync();
    expect(all.every(Number.isFinite)).toBe(true);
    const d = tf.tidy(() => {
      const one = enc.forward(tf.slice(x, [1, 0, 0, 0], [1, 3, 256, 256]));
      return tf.max(tf.abs(tf.sub(one, tf.slice(y, [1, 0, 0, 0], [1, 64, 16, 16])))).dataSync()[0];
    });
    expect(d).toBeLessThan(1e-4);
    tf.dispose([x, y]);
    expect(tf.memory().numTensors).toBe(before);
    enc.dispose();
    store.dispose();
  });

  it('rejects an input whose patch grid differs from pos_embed, and bad channel counts', () => {
    const store = new ParamStore(loadFixture(WEIGHTS));
    const enc = createImageEncoder(getPreset('sam-mini'), store.scope('image_encoder'));
    const before = tf.memory().numTensors;
    const big = tf.zeros([1, 3, 320, 320]) as tf.Tensor4D;
    expect(() => enc.forward(big)).toThrow(/20×20 patch grid but pos_embed .* expect 16×16/);
    const odd = tf.zeros([1, 3, 250, 256]) as tf.Tensor4D;
    expect(() => enc.forward(odd)).toThrow(/not a multiple of patch 16/);
    const gray = tf.zeros([1, 1, 256, 256]) as tf.Tensor4D;
    expect(() => enc.forward(gray)).toThrow(/expects 3 channels/);
    tf.dispose([big, odd, gray]);
    expect(tf.memory().numTensors).toBe(before);
    enc.dispose();
    store.dispose();
  });

  it('rejects weights of another config, naming the tensor', () => {
    const store = new ParamStore(loadFixture(WEIGHTS));
    // casam-tiny has window 8 (rel_pos tables of 15 rows); sam-mini's windowed tables have 13.
    expect(() => createImageEncoder(getPreset('casam-tiny'), store.scope('image_encoder'))).toThrow(
      /blocks\.0\.attn\.rel_pos_h does not fit config casam-tiny/,
    );
    store.dispose();
  });
});
