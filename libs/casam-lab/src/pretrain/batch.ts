import { tf, SamConfig, maskInputSize, Sam, preprocess } from '@casam/casam-core';
import { CorpusSample, Prompt } from './generic-corpus';

/**
 * A training batch on the host: B preprocessed images and P prompts over them, box prompts first. Box
 * prompts are decoded as boxes (2 sparse tokens, exactly the official inference form); point prompts are
 * padded to the same count with label −1 (not-a-point), to which the prompt encoder appends its own padding
 * point, as the official code does for point-only prompts.
 */
export interface HostBatch {
  /** [B,3,S,S], Sam.preprocess output. */
  images: Float32Array;
  numImages: number;
  /** Image of each prompt, [P]. */
  imageIndex: Int32Array;
  numBoxes: number;
  /** [numBoxes,4] (x0,y0,x1,y1). */
  boxes: Float32Array;
  numPointPrompts: number;
  /** Points per point prompt after padding. */
  pointsPerPrompt: number;
  /** [numPointPrompts, pointsPerPrompt, 2]. */
  pointCoords: Float32Array;
  /** [numPointPrompts, pointsPerPrompt]. */
  pointLabels: Float32Array;
  /** Soft low-res targets (area fraction of each cell) [P,1,m,m], m = 4·grid (64 for casam-tiny). */
  targets: Float32Array;
}

/**
 * Area-average downsampling of a 0/1 size×size mask to m×m (size a multiple of m): the fraction of each
 * cell covered. Losses run on the decoder's native low-res logits against this soft target — 16× fewer
 * pixels than upsampled logits, which matters on 2 CPU cores, while the soft boundary still tells the
 * model where inside a cell the edge lies.
 */
export function downsampleMask(
  mask: Uint8Array,
  size: number,
  m: number,
  out: Float32Array,
  offset = 0,
): void {
  const f = size / m;
  if (!Number.isInteger(f)) throw new Error(`mask size ${size} is not a multiple of ${m}`);
  const inv = 1 / (f * f);
  for (let cy = 0; cy < m; cy++)
    for (let cx = 0; cx < m; cx++) {
      let s = 0;
      for (let y = cy * f; y < (cy + 1) * f; y++)
        for (let x = cx * f; x < (cx + 1) * f; x++) s += mask[y * size + x];
      out[offset + cy * m + cx] = s * inv;
    }
}

interface Item {
  image: number;
  prompt: Prompt;
  mask: Uint8Array;
}

/** Builds the host batch for samples whose images are cfg.imgSize square (no resize needed). */
export function buildBatch(samples: CorpusSample[], cfg: SamConfig): HostBatch {
  const s = cfg.imgSize;
  const m = maskInputSize(cfg);
  const images = new Float32Array(samples.length * 3 * s * s);
  const boxes: Item[] = [];
  const points: Item[] = [];
  samples.forEach((smp, i) => {
    if (smp.size !== s) throw new Error(`sample ${smp.index} is ${smp.size} px, the model takes ${s}`);
    images.set(preprocess(smp.image, s, s, cfg).data as Float32Array, i * 3 * s * s);
    for (const t of smp.targets)
      (t.prompt.kind === 'box' ? boxes : points).push({ image: i, prompt: t.prompt, mask: t.mask });
  });
  const items = [...boxes, ...points];
  const p = items.length;
  const imageIndex = Int32Array.from(items.map((it) => it.image));
  const targets = new Float32Array(p * m * m);
  items.forEach((it, k) => downsampleMask(it.mask, s, m, targets, k * m * m));
  const boxArr = new Float32Array(boxes.length * 4);
  boxes.forEach((it, k) => {
    if (it.prompt.kind === 'box') boxArr.set(it.prompt.box, k * 4);
  });
  const n = Math.max(1, ...points.map((it) => (it.prompt.kind === 'points' ? it.prompt.points.length : 0)));
  const coords = new Float32Array(points.length * n * 2);
  const labels = new Float32Array(points.length * n).fill(-1);
  points.forEach((it, k) => {
    if (it.prompt.kind !== 'points') return;
    it.prompt.points.forEach(([x, y], j) => {
      coords[(k * n + j) * 2] = x;
      coords[(k * n + j) * 2 + 1] = y;
      labels[k * n + j] = it.prompt.kind === 'points' ? it.prompt.labels[j] : -1;
    });
  });
  return {
    images,
    numImages: samples.length,
    imageIndex,
    numBoxes: boxes.length,
    boxes: boxArr,
    numPointPrompts: points.length,
    pointsPerPrompt: n,
    pointCoords: coords,
    pointLabels: labels,
    targets,
  };
}

/** All four mask tokens for every prompt of the batch: masks [P,4,m,m] and IoU predictions [P,4]. */
export function decodeBatch(
  sam: Sam,
  embeddings: tf.Tensor4D,
  batch: HostBatch,
): { masks: tf.Tensor4D; iou: tf.Tensor2D } {
  return tf.tidy(() => {
    const masks: tf.Tensor4D[] = [];
    const ious: tf.Tensor2D[] = [];
    const run = (
      start: number,
      count: number,
      prompt: Parameters<Sam['promptEncoder']['encode']>[0],
    ): void => {
      const idx = tf.tensor1d(batch.imageIndex.subarray(start, start + count), 'int32');
      const emb = tf.gather(embeddings, idx) as tf.Tensor4D;
      const { sparse, dense } = sam.promptEncoder.encode(prompt);
      const out = sam.maskDecoder.predictMasks(emb, sam.densePe, sparse, dense);
      masks.push(out.masks);
      ious.push(out.iou);
    };
    const nb = batch.numBoxes;
    const np = batch.numPointPrompts;
    if (nb > 0) run(0, nb, { boxes: tf.tensor2d(batch.boxes, [nb, 4]) });
    if (np > 0) {
      const n = batch.pointsPerPrompt;
      run(nb, np, {
        points: {
          coords: tf.tensor3d(batch.pointCoords, [np, n, 2]),
          labels: tf.tensor2d(batch.pointLabels, [np, n]),
        },
      });
    }
    if (masks.length === 1) return { masks: masks[0], iou: ious[0] };
    return { masks: tf.concat(masks, 0) as tf.Tensor4D, iou: tf.concat(ious, 0) as tf.Tensor2D };
  });
}
