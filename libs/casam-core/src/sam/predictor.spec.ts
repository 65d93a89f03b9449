import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from './tf';
import { getPreset } from './config';
import { buildSam } from './sam';
import { createTfjsSamEngine } from './tfjs-sam-engine';
import { SamPredictor, createSamPredictor } from './predictor';
import { createOnnxSamEngine } from '../onnx/onnx-sam-engine';
import { expectClose, fixturePath, fixtureTensor } from '../testing/fixtures';
import { loadSamWeights } from '../weights';
import { HostTensor } from '../tensor/host-tensor';

const G = 'sam-mini/sam-mini-golden.safetensors';
const cfg = getPreset('sam-mini');
const golden = (n: string) => fixtureTensor(G, n);
const resizeImage = () => {
  const t = golden('resize.image_u8');
  return { height: t.shape[0], width: t.shape[1], data: t.data as Uint8Array };
};
const arr = (t: HostTensor) => Array.from(t.data as Float32Array);

// The whole chain, image bytes in → masks at the original size out, against the official SamPredictor.
async function checkChain(p: SamPredictor, atolEmb: number) {
  const e = await p.setImage(resizeImage());
  expect(e.inputSize).toEqual([213, 256]);
  expect(e.originalSize).toEqual([200, 240]);
  expectClose(e.embeddings, golden('resize.image_embeddings'), atolEmb, 'embeddings');

  const box = arr(golden('resize.box.orig_box')) as [number, number, number, number];
  const single = await p.predict({ box });
  expectClose(single.lowResMasks, golden('resize.box.single.low_res_masks'), 1e-4, 'box low-res');
  expectClose(single.masks, golden('resize.box.single.masks'), 1e-4, 'box masks');
  expect(single.binary).toHaveLength(1);

  const xy = arr(golden('resize.points.orig_coords'));
  const labels = arr(golden('resize.points.point_labels'));
  const multi = await p.predict({
    points: [
      [xy[0], xy[1]],
      [xy[2], xy[3]],
    ],
    labels,
    multimask: true,
  });
  expectClose(multi.masks, golden('resize.points.multimask.masks'), 1e-4, 'points masks');
  const iou = arr(golden('resize.points.multimask.iou_predictions'));
  expect(multi.best).toBe(iou.indexOf(Math.max(...iou)));
  // Binary masks are the logits thresholded at 0, at the original size.
  const logits = golden('resize.points.multimask.masks').data as Float32Array;
  let agree = 0;
  for (let i = 0; i < 200 * 240; i++) agree += Number(multi.binary[0][i] === (logits[i] > 0 ? 1 : 0));
  expect(agree).toBeGreaterThan(200 * 240 - 5); // only pixels with |logit| < tolerance may flip
}

describe.each(['wasm', 'cpu'])('SamPredictor on tfjs-%s', (backend) => {
  let p: SamPredictor;
  beforeAll(async () => {
    await tf.setBackend(backend);
    p = createSamPredictor(
      createTfjsSamEngine(buildSam(cfg, loadSamWeights(fixturePath('sam-mini/sam-mini.pth'), cfg))),
    );
  });
  afterAll(() => p.dispose());

  it('reproduces the official predictor from image bytes to masks', async () => {
    await checkChain(p, 1e-4);
  });

  it('leaks no tensors across setImage and predict', async () => {
    await p.setImage(resizeImage()); // warm-up allocations
    const before = tf.memory().numTensors;
    await p.setImage(resizeImage());
    await p.predict({ box: [10, 10, 100, 100], multimask: true });
    await p.predict({ points: [[50, 60]], labels: [1] });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses prompts outside the image or malformed, with clear messages', async () => {
    await p.setImage(resizeImage());
    await expect(p.predict({ box: [10, 10, 300, 100] })).rejects.toThrow(/outside the 240×200 image/);
    await expect(p.predict({ box: [50, 10, 20, 100] })).rejects.toThrow(/x0 ≤ x1/);
    await expect(p.predict({ points: [[1, 2]], labels: [] })).rejects.toThrow(/1 points but 0 labels/);
    await expect(p.predict({})).rejects.toThrow(/at least one point, a box or a mask/);
  });
});

describe('SamPredictor on ONNX Runtime', () => {
  it('gives the same chain through the official-format exports', async () => {
    const engine = await createOnnxSamEngine({
      config: cfg,
      encoderPath: fixturePath('onnx/sam-mini-encoder.onnx'),
      decoderPath: fixturePath('onnx/sam-mini-decoder.onnx'),
    });
    const p = createSamPredictor(engine);
    try {
      await checkChain(p, 1e-4);
    } finally {
      p.dispose();
    }
  });
});
