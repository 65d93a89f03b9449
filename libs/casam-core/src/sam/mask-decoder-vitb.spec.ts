import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from './tf';
import { getPreset } from './config';
import { ParamStore } from './params';
import { MaskDecoder, createMaskDecoder } from './mask-decoder';
import { PromptEncoder, PromptInput, createPromptEncoder } from './prompt-encoder';
import { HostTensor, toFloat32 } from '../tensor/host-tensor';
import { expectClose, fixtureTensor, loadFixture } from '../testing/fixtures';

// Real ViT-B-sized prompt encoder + mask decoder (256 channels, 64×64 grid, 256×256 masks).
const VITB = 'sam-vitb-decoder/sam-vitb-decoder-golden.safetensors';
const ATOL = 1e-5;

const golden = (name: string): HostTensor => fixtureTensor(VITB, name);
const tensor = (h: HostTensor): tf.Tensor => tf.tensor(toFloat32(h), h.shape, 'float32');
const host = (t: tf.Tensor): { shape: number[]; data: Float32Array } => ({
  shape: t.shape,
  data: t.dataSync() as Float32Array,
});

const report: string[] = [];
afterAll(() => console.log(`vit-b mask decoder max abs diffs:\n${report.join('\n')}`));

describe.each(['cpu', 'wasm'])('vit-b mask decoder on %s', (backend) => {
  let store: ParamStore;
  let enc: PromptEncoder;
  let dec: MaskDecoder;
  let emb: tf.Tensor4D;
  let pe: tf.Tensor4D;
  const check = (actual: tf.Tensor, name: string): void => {
    const d = expectClose(host(actual), golden(name), ATOL, `${backend} ${name}`);
    report.push(`  ${backend} ${name}: ${d.toExponential(2)}`);
  };

  beforeAll(async () => {
    await tf.setBackend(backend);
    await tf.ready();
    const cfg = getPreset('vit_b');
    store = new ParamStore(loadFixture('sam-vitb-decoder/sam-vitb-decoder.safetensors'));
    enc = createPromptEncoder(cfg, store.scope('prompt_encoder'));
    dec = createMaskDecoder(cfg, store.scope('mask_decoder'));
    emb = tensor(golden('image_embeddings')) as tf.Tensor4D;
    pe = enc.denseEmbeddingPositional();
  });
  afterAll(() => {
    tf.dispose([emb, pe]);
    store.dispose();
  });

  it.each(['box', 'points'])('case %s: multimask and single', (name) => {
    const prompt: PromptInput =
      name === 'box'
        ? { boxes: tensor(golden('box.boxes')) as tf.Tensor2D }
        : {
            points: {
              coords: tensor(golden('points.point_coords')) as tf.Tensor3D,
              labels: tensor(golden('points.point_labels')) as tf.Tensor2D,
            },
          };
    const { sparse, dense } = enc.encode(prompt);
    check(sparse, `${name}.sparse`);
    let multi: { masks: tf.Tensor; iou: tf.Tensor };
    let single: { masks: tf.Tensor; iou: tf.Tensor };
    if (backend === 'cpu') {
      // The pure-JS backend needs seconds per vit-b decode: decode once and slice as forward() does.
      const all = dec.predictMasks(emb, pe, sparse, dense);
      multi = { masks: tf.slice(all.masks, [0, 1], [1, 3]), iou: tf.slice(all.iou, [0, 1], [1, 3]) };
      single = { masks: tf.slice(all.masks, [0, 0], [1, 1]), iou: tf.slice(all.iou, [0, 0], [1, 1]) };
      tf.dispose([all.masks, all.iou]);
    } else {
      multi = dec.forward(emb, pe, sparse, dense, true);
      single = dec.forward(emb, pe, sparse, dense, false);
    }
    expect(multi.masks.shape).toEqual([1, 3, 256, 256]);
    check(multi.masks, `${name}.multimask.low_res_masks`);
    check(multi.iou, `${name}.multimask.iou_predictions`);
    check(single.masks, `${name}.single.low_res_masks`);
    check(single.iou, `${name}.single.iou_predictions`);
    tf.dispose([sparse, dense, multi.masks, multi.iou, single.masks, single.iou]);
    const ts: (tf.Tensor | undefined)[] = [prompt.boxes, prompt.points?.coords, prompt.points?.labels];
    tf.dispose(ts.filter((t): t is tf.Tensor => t !== undefined));
  });
});
