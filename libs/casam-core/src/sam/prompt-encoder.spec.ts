import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from './tf';
import { getPreset } from './config';
import { ParamStore } from './params';
import { PromptEncoder, PromptInput, createPromptEncoder } from './prompt-encoder';
import { HostTensor, toFloat32 } from '../tensor/host-tensor';
import { expectClose, fixtureTensor, loadFixture } from '../testing/fixtures';

const MINI = 'sam-mini/sam-mini-golden.safetensors';
const VITB = 'sam-vitb-decoder/sam-vitb-decoder-golden.safetensors';
const ATOL = 1e-5;

const golden = (name: string): HostTensor => fixtureTensor(MINI, name);
const goldenB = (name: string): HostTensor => fixtureTensor(VITB, name);
const tensor = (h: HostTensor): tf.Tensor => tf.tensor(toFloat32(h), h.shape, 'float32');
const host = (t: tf.Tensor): { shape: number[]; data: Float32Array } => ({
  shape: t.shape,
  data: t.dataSync() as Float32Array,
});

/** The fixture prompt of a case, as tensors (the caller disposes them). */
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

const CASES: Record<string, string[]> = {
  box: ['boxes'],
  points: ['points'],
  box_points: ['points', 'boxes'],
  mask: ['masks'],
  points_mask: ['points', 'masks'],
};

const report: string[] = [];
afterAll(() => console.log(`prompt encoder max abs diffs:\n${report.join('\n')}`));

describe.each(['cpu', 'wasm'])('prompt encoder on %s', (backend) => {
  let store: ParamStore;
  let enc: PromptEncoder;
  let storeB: ParamStore;
  let encB: PromptEncoder;
  const check = (actual: tf.Tensor, g: HostTensor, label: string): void => {
    const d = expectClose(host(actual), g, ATOL, `${backend} ${label}`);
    report.push(`  ${backend} ${label}: ${d.toExponential(2)}`);
  };

  beforeAll(async () => {
    await tf.setBackend(backend);
    await tf.ready();
    store = new ParamStore(loadFixture('sam-mini/sam-mini.safetensors'));
    enc = createPromptEncoder(getPreset('sam-mini'), store.scope('prompt_encoder'));
    storeB = new ParamStore(loadFixture('sam-vitb-decoder/sam-vitb-decoder.safetensors'));
    encB = createPromptEncoder(getPreset('vit_b'), storeB); // whole-model store: scoped automatically
  });
  afterAll(() => {
    store.dispose();
    storeB.dispose();
  });

  it('get_dense_pe matches prompt.dense_pe', () => {
    const pe = enc.denseEmbeddingPositional();
    check(pe, golden('prompt.dense_pe'), 'prompt.dense_pe');
    pe.dispose();
  });

  it.each(Object.entries(CASES))(
    'case %s: sparse, dense and mask-downscaling intermediates',
    (name, parts) => {
      const prompt = casePrompt(`prompt.${name}`, parts);
      const taps = new Map<string, { shape: number[]; data: Float32Array }>();
      const { sparse, dense } = enc.encode(prompt, (n, t) =>
        taps.set(n, { shape: t.shape, data: t.dataSync().slice() as Float32Array }),
      );
      check(sparse, golden(`prompt.${name}.sparse`), `prompt.${name}.sparse`);
      check(dense, golden(`prompt.${name}.dense`), `prompt.${name}.dense`);
      if (parts.includes('masks'))
        for (const k of ['mask_downscaling.2', 'mask_downscaling.5']) {
          const t = taps.get(k);
          expect(t, k).toBeDefined();
          const d = expectClose(t!, golden(`prompt.${name}.${k}`), ATOL, `${backend} ${name} ${k}`);
          report.push(`  ${backend} prompt.${name}.${k}: ${d.toExponential(2)}`);
        }
      else expect(taps.size).toBe(0);
      tf.dispose([sparse, dense]);
      disposePrompt(prompt);
    },
  );

  it('resize case sparse embeddings', () => {
    const pts = casePrompt('resize.points', ['points']);
    const a = enc.encode(pts);
    check(a.sparse, golden('resize.points.sparse'), 'resize.points.sparse');
    const box = casePrompt('resize.box', ['boxes']);
    const b = enc.encode(box);
    check(b.sparse, golden('resize.box.sparse'), 'resize.box.sparse');
    tf.dispose([a.sparse, a.dense, b.sparse, b.dense]);
    disposePrompt(pts);
    disposePrompt(box);
  });

  it('a caller-supplied −1 padding point maps to not_a_point_embed (no automatic pad with a box)', () => {
    // points + explicit (0,0)/−1 + box must equal the official points-only tokens followed by the box tokens.
    const coords = tf.tensor3d([
      [
        [100, 120],
        [180, 60],
        [0, 0],
      ],
    ]);
    const labels = tf.tensor2d([[1, 0, -1]]);
    const boxes = tf.tensor2d([[48, 64, 200, 210]]);
    const { sparse, dense } = enc.encode({ points: { coords, labels }, boxes });
    expect(sparse.shape).toEqual([1, 5, 64]);
    const pointsPart = tf.slice(sparse, [0, 0, 0], [1, 3, 64]);
    const boxPart = tf.slice(sparse, [0, 3, 0], [1, 2, 64]);
    check(pointsPart, golden('prompt.points.sparse'), 'explicit pad: points part');
    check(boxPart, golden('prompt.box.sparse'), 'explicit pad: box part');
    tf.dispose([coords, labels, boxes, sparse, dense, pointsPart, boxPart]);
  });

  it('labels 2 / 3 embed box corners (the ONNX convention)', () => {
    const coords = tf.tensor3d([
      [
        [48, 64],
        [200, 210],
      ],
    ]);
    const labels = tf.tensor2d([[2, 3]], undefined, 'int32');
    const { sparse, dense } = enc.encode({ points: { coords, labels } });
    expect(sparse.shape).toEqual([1, 3, 64]); // + the automatic padding point
    const corners = tf.slice(sparse, [0, 0, 0], [1, 2, 64]);
    check(corners, golden('prompt.box.sparse'), 'labels 2/3 as box corners');
    tf.dispose([coords, labels, sparse, dense, corners]);
  });

  it('batches prompts (B = 2) and keeps the batch size for mask-only and empty prompts', () => {
    const coords = tf.tensor3d([
      [
        [100, 120],
        [180, 60],
      ],
      [
        [100, 120],
        [180, 60],
      ],
    ]);
    const labels = tf.tensor2d([
      [1, 0],
      [1, 0],
    ]);
    const { sparse, dense } = enc.encode({ points: { coords, labels } });
    expect(sparse.shape).toEqual([2, 3, 64]);
    expect(dense.shape).toEqual([2, 64, 16, 16]);
    const second = tf.slice(sparse, [1, 0, 0], [1, 3, 64]);
    check(second, golden('prompt.points.sparse'), 'batch item 1');
    const empty = enc.encode({});
    expect(empty.sparse.shape).toEqual([1, 0, 64]);
    expect(empty.dense.shape).toEqual([1, 64, 16, 16]);
    tf.dispose([coords, labels, sparse, dense, second, empty.sparse, empty.dense]);
  });

  it('vit-b prompt encoder: dense PE corner, box and points sparse, no-mask dense', () => {
    const pe = encB.denseEmbeddingPositional();
    expect(pe.shape).toEqual([1, 256, 64, 64]);
    const corner = tf.slice(pe, [0, 0, 0, 0], [1, 256, 8, 8]);
    check(corner, goldenB('dense_pe_top_left_8x8'), 'vitb dense_pe_top_left_8x8');
    const box = tensor(goldenB('box.boxes')) as tf.Tensor2D;
    const a = encB.encode({ boxes: box });
    check(a.sparse, goldenB('box.sparse'), 'vitb box.sparse');
    const aCorner = tf.slice(a.dense, [0, 0, 0, 0], [1, 256, 1, 1]);
    check(aCorner, goldenB('box.dense_no_mask'), 'vitb box.dense_no_mask');
    expect(a.dense.shape).toEqual([1, 256, 64, 64]);
    const coords = tensor(goldenB('points.point_coords')) as tf.Tensor3D;
    const labels = tensor(goldenB('points.point_labels')) as tf.Tensor2D;
    const b = encB.encode({ points: { coords, labels } });
    check(b.sparse, goldenB('points.sparse'), 'vitb points.sparse');
    const bCorner = tf.slice(b.dense, [0, 0, 0, 0], [1, 256, 1, 1]);
    check(bCorner, goldenB('points.dense_no_mask'), 'vitb points.dense_no_mask');
    // The dense no-mask embedding is the same vector at every position.
    const last = tf.slice(b.dense, [0, 0, 63, 63], [1, 256, 1, 1]);
    check(last, goldenB('points.dense_no_mask'), 'vitb points.dense_no_mask (63,63)');
    tf.dispose([
      pe,
      corner,
      box,
      a.sparse,
      a.dense,
      aCorner,
      coords,
      labels,
      b.sparse,
      b.dense,
      bCorner,
      last,
    ]);
  });

  it('encode leaks no tensors', () => {
    const prompt = casePrompt('prompt.points_mask', ['points', 'masks']);
    const before = tf.memory().numTensors;
    const { sparse, dense } = enc.encode(prompt);
    tf.dispose([sparse, dense]);
    const pe = enc.denseEmbeddingPositional();
    pe.dispose();
    expect(tf.memory().numTensors).toBe(before);
    disposePrompt(prompt);
  });
});
