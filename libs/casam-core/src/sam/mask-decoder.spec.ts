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

const MINI = 'sam-mini/sam-mini-golden.safetensors';
const ATOL = 1e-5;

const golden = (name: string): HostTensor => fixtureTensor(MINI, name);
const has = (name: string): boolean => loadFixture(MINI).has(name);
const tensor = (h: HostTensor): tf.Tensor => tf.tensor(toFloat32(h), h.shape, 'float32');
const host = (t: tf.Tensor): { shape: number[]; data: Float32Array } => ({
  shape: t.shape,
  data: t.dataSync() as Float32Array,
});

const CASES: Record<string, string[]> = {
  box: ['boxes'],
  points: ['points'],
  box_points: ['points', 'boxes'],
  mask: ['masks'],
  points_mask: ['points', 'masks'],
};

/** Intermediates the decoder taps under the fixture's names (decoder.<case>.<name>). */
const TAPPED = [
  'tokens',
  'src_in',
  'transformer.layer0.queries',
  'transformer.layer0.keys',
  'transformer.layer1.queries',
  'transformer.layer1.keys',
  'transformer.hs',
  'transformer.src',
  'upscaled_embedding',
  'hyper_in',
];

function casePrompt(prefix: string, parts: string[]): PromptInput {
  const p: PromptInput = {};
  if (parts.includes('points'))
    p.points = {
      coords: tensor(golden(`${prefix}.point_coords`)) as tf.Tensor3D,
      labels: tensor(golden(`${prefix}.point_labels`)) as tf.Tensor2D,
    };
  if (parts.includes('boxes')) p.boxes = tensor(golden(`${prefix}.boxes`)) as tf.Tensor2D;
  if (parts.includes('masks')) p.masks = tensor(golden(`${prefix}.mask_input`)) as tf.Tensor4D;
  return p;
}

function disposePrompt(p: PromptInput): void {
  const ts: (tf.Tensor | undefined)[] = [p.points?.coords, p.points?.labels, p.boxes, p.masks];
  tf.dispose(ts.filter((t): t is tf.Tensor => t !== undefined));
}

const report: string[] = [];
afterAll(() => console.log(`sam-mini mask decoder max abs diffs:\n${report.join('\n')}`));

describe.each(['cpu', 'wasm'])('sam-mini mask decoder on %s', (backend) => {
  let store: ParamStore;
  let enc: PromptEncoder;
  let dec: MaskDecoder;
  let emb: tf.Tensor4D;
  let pe: tf.Tensor4D;
  const check = (actual: { shape: number[]; data: ArrayLike<number> }, name: string): void => {
    const d = expectClose(actual, golden(name), ATOL, `${backend} ${name}`);
    report.push(`  ${backend} ${name}: ${d.toExponential(2)}`);
  };

  beforeAll(async () => {
    await tf.setBackend(backend);
    await tf.ready();
    const cfg = getPreset('sam-mini');
    store = new ParamStore(loadFixture('sam-mini/sam-mini.safetensors'));
    enc = createPromptEncoder(cfg, store.scope('prompt_encoder'));
    dec = createMaskDecoder(cfg, store.scope('mask_decoder'));
    emb = tensor(golden('image_embeddings')) as tf.Tensor4D;
    pe = enc.denseEmbeddingPositional();
  });
  afterAll(() => {
    tf.dispose([emb, pe]);
    store.dispose();
  });

  it.each(Object.entries(CASES))(
    'case %s: intermediates, all tokens, multimask and single',
    (name, parts) => {
      const prompt = casePrompt(`prompt.${name}`, parts);
      const { sparse, dense } = enc.encode(prompt);
      const taps = new Map<string, { shape: number[]; data: Float32Array }>();
      const all = dec.predictMasks(emb, pe, sparse, dense, (n, t) =>
        taps.set(n, { shape: t.shape, data: t.dataSync().slice() as Float32Array }),
      );
      let compared = 0;
      for (const k of TAPPED) {
        const g = `decoder.${name}.${k}`;
        if (!has(g)) continue;
        expect(taps.has(k), k).toBe(true);
        check(taps.get(k)!, g);
        compared++;
      }
      expect(compared).toBeGreaterThanOrEqual(3);
      check(host(all.masks), `decoder.${name}.all_masks`);
      check(host(all.iou), `decoder.${name}.all_iou`);
      const multi = dec.forward(emb, pe, sparse, dense, true);
      check(host(multi.masks), `decoder.${name}.multimask.low_res_masks`);
      check(host(multi.iou), `decoder.${name}.multimask.iou_predictions`);
      const single = dec.forward(emb, pe, sparse, dense, false);
      check(host(single.masks), `decoder.${name}.single.low_res_masks`);
      check(host(single.iou), `decoder.${name}.single.iou_predictions`);
      tf.dispose([sparse, dense, all.masks, all.iou, multi.masks, multi.iou, single.masks, single.iou]);
      disposePrompt(prompt);
    },
  );

  it('resize case: low-res masks and IoU from the padded image embeddings', () => {
    const resEmb = tensor(golden('resize.image_embeddings')) as tf.Tensor4D;
    for (const [c, parts, mode] of [
      ['points', ['points'], 'multimask'],
      ['box', ['boxes'], 'single'],
    ] as const) {
      const prompt = casePrompt(`resize.${c}`, [...parts]);
      const { sparse, dense } = enc.encode(prompt);
      const out = dec.forward(resEmb, pe, sparse, dense, mode === 'multimask');
      check(host(out.masks), `resize.${c}.${mode}.low_res_masks`);
      check(host(out.iou), `resize.${c}.${mode}.iou_predictions`);
      tf.dispose([sparse, dense, out.masks, out.iou]);
      disposePrompt(prompt);
    }
    resEmb.dispose();
  });

  it('B prompts share one image (E = 1, repeat_interleave) and B images pair with B prompts (E = B)', () => {
    // points and points_mask both have 3 sparse tokens, so they stack into one batch.
    const a = enc.encode(casePromptKeep('prompt.points', ['points']));
    const b = enc.encode(casePromptKeep('prompt.points_mask', ['points', 'masks']));
    const sparse = tf.concat([a.sparse, b.sparse], 0) as tf.Tensor3D;
    const dense = tf.concat([a.dense, b.dense], 0) as tf.Tensor4D;
    const shared = dec.predictMasks(emb, pe, sparse, dense);
    expect(shared.masks.shape).toEqual([2, 4, 64, 64]);
    const m = shared.masks.dataSync();
    const iou = shared.iou.dataSync();
    const n = 4 * 64 * 64;
    check({ shape: [1, 4, 64, 64], data: m.subarray(0, n) }, 'decoder.points.all_masks');
    check({ shape: [1, 4, 64, 64], data: m.subarray(n) }, 'decoder.points_mask.all_masks');
    check({ shape: [1, 4], data: iou.subarray(0, 4) }, 'decoder.points.all_iou');
    check({ shape: [1, 4], data: iou.subarray(4) }, 'decoder.points_mask.all_iou');

    // Two images, two prompts: (main image, points) and (resize image, resize points), multimask.
    const resEmb = tensor(golden('resize.image_embeddings')) as tf.Tensor4D;
    const r = enc.encode(casePromptKeep('resize.points', ['points']));
    const embs = tf.concat([emb, resEmb], 0) as tf.Tensor4D;
    const sp2 = tf.concat([a.sparse, r.sparse], 0) as tf.Tensor3D;
    const de2 = tf.concat([a.dense, r.dense], 0) as tf.Tensor4D;
    const paired = dec.forward(embs, pe, sp2, de2, true);
    const pm = paired.masks.dataSync();
    const k = 3 * 64 * 64;
    check({ shape: [1, 3, 64, 64], data: pm.subarray(0, k) }, 'decoder.points.multimask.low_res_masks');
    check({ shape: [1, 3, 64, 64], data: pm.subarray(k) }, 'resize.points.multimask.low_res_masks');
    check(
      { shape: [1, 3], data: paired.iou.dataSync().subarray(3) },
      'resize.points.multimask.iou_predictions',
    );

    expect(() => dec.predictMasks(tf.concat([emb, emb, emb], 0) as tf.Tensor4D, pe, sparse, dense)).toThrow(
      /cannot share/,
    );
    tf.dispose([a.sparse, a.dense, b.sparse, b.dense, sparse, dense, shared.masks, shared.iou]);
    tf.dispose([resEmb, r.sparse, r.dense, embs, sp2, de2, paired.masks, paired.iou]);
    disposeKept();
  });

  it('decoding leaks no tensors', () => {
    const prompt = casePrompt('prompt.box_points', ['points', 'boxes']);
    const { sparse, dense } = enc.encode(prompt);
    // Warm up once (kernels may cache state on first use), then count.
    tf.dispose(Object.values(dec.forward(emb, pe, sparse, dense, true)));
    const before = tf.memory().numTensors;
    const out = dec.forward(emb, pe, sparse, dense, true);
    const all = dec.predictMasks(emb, pe, sparse, dense);
    tf.dispose([out.masks, out.iou, all.masks, all.iou]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([sparse, dense]);
    disposePrompt(prompt);
  });
});

// Prompt tensors created for the batch test; disposed together at its end.
const kept: PromptInput[] = [];
function casePromptKeep(prefix: string, parts: string[]): PromptInput {
  const p = casePrompt(prefix, parts);
  kept.push(p);
  return p;
}
function disposeKept(): void {
  kept.splice(0).forEach(disposePrompt);
}
