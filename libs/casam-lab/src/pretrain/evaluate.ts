import { tf, Sam, postprocessMasksTf } from '@casam/casam-core';
import { buildBatch, decodeBatch } from './batch';
import { Box, CorpusSample, EVAL_SEED, createGenericCorpus, interiorPoint } from './generic-corpus';

/** The fixed held-out evaluation images (generic corpus, EVAL_SEED, tight box prompts). */
export interface EvalSet {
  samples: CorpusSample[];
}

export function makeHeldOutSet(images = 64, targetsPerImage = 2, size = 256, seed = EVAL_SEED): EvalSet {
  const corpus = createGenericCorpus({ seed, size, targetsPerImage, evaluation: true });
  const samples: CorpusSample[] = [];
  for (let i = 0; i < images; i++) samples.push(corpus.sample(i));
  return { samples };
}

export interface ShapeScore {
  boxIou: number;
  boxFillIou: number;
  count: number;
}

export interface EvalResult {
  /** Mean IoU of the single-mask output for the tight box prompt (logits > 0 at full resolution). */
  boxIou: number;
  /** Mean IoU of simply filling the same box: the baseline a useful prior must beat. */
  boxFillIou: number;
  /** Mean IoU for one positive point at the mask's most interior pixel, multimask, best predicted IoU. */
  pointIou: number;
  targets: number;
  /** Per target shape, or per sample group where the set names one (the domain evaluation). */
  byShape: Record<string, ShapeScore>;
}

function iou(pred: Float32Array, offset: number, mask: Uint8Array): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < mask.length; i++) {
    const p = pred[offset + i] > 0 ? 1 : 0;
    inter += p & mask[i];
    union += p | mask[i];
  }
  return (inter + 1e-7) / (union + 1e-7);
}

function boxFill(mask: Uint8Array, area: number, box: Box, size: number): number {
  const [x0, y0, x1, y1] = box.map(Math.round);
  let inter = 0;
  for (let y = Math.max(0, y0); y <= Math.min(size - 1, y1); y++)
    for (let x = Math.max(0, x0); x <= Math.min(size - 1, x1); x++) inter += mask[y * size + x];
  const boxArea = Math.max(0, x1 - x0 + 1) * Math.max(0, y1 - y0 + 1);
  return (inter + 1e-7) / (boxArea + area - inter + 1e-7);
}

/** Scores `sam` on the held-out set. Leaves no tensors behind. */
export function evaluateHeldOut(sam: Sam, set: EvalSet, imagesPerBatch = 8): EvalResult {
  const cfg = sam.config;
  const size = cfg.imgSize;
  let boxSum = 0;
  let fillSum = 0;
  let pointSum = 0;
  let n = 0;
  const byShape: Record<string, ShapeScore> = {};
  for (let start = 0; start < set.samples.length; start += imagesPerBatch) {
    const chunk = set.samples.slice(start, start + imagesPerBatch);
    const pointChunk: CorpusSample[] = chunk.map((s) => ({
      ...s,
      targets: s.targets.map((t) => ({
        ...t,
        prompt: { kind: 'points', points: [interiorPoint(t.mask, size)], labels: [1] },
      })),
    }));
    const boxBatch = buildBatch(
      chunk.map((s) => ({
        ...s,
        targets: s.targets.map((t) => ({ ...t, prompt: { kind: 'box', box: t.bbox } })),
      })),
      cfg,
    );
    const pointBatch = buildBatch(pointChunk, cfg);
    const [boxLogits, pointLogits] = tf.tidy(() => {
      const images = tf.tensor4d(boxBatch.images, [chunk.length, 3, size, size]);
      const emb = sam.imageEncoder.forward(images);
      const box = decodeBatch(sam, emb, boxBatch);
      const pts = decodeBatch(sam, emb, pointBatch);
      const p = pts.masks.shape[0];
      const [, , h, w] = pts.masks.shape;
      // Multimask: tokens 1..3, keep the one with the highest predicted IoU (as `segment --multimask`).
      // Row of the chosen mask in the [P·4] stack: 4·i + 1 + argmax (int32 all the way; gather needs it).
      const best = tf.argMax(tf.slice(pts.iou, [0, 1], [p, 3]), 1);
      const rows = tf.add(tf.range(1, 4 * p + 1, 4, 'int32'), best);
      const chosen = tf.reshape(tf.gather(tf.reshape(pts.masks, [p * 4, h, w]), rows), [
        p,
        1,
        h,
        w,
      ]) as tf.Tensor4D;
      const single = tf.slice(box.masks, [0, 0, 0, 0], [box.masks.shape[0], 1, h, w]) as tf.Tensor4D;
      return [
        postprocessMasksTf(single, [size, size], [size, size], size),
        postprocessMasksTf(chosen, [size, size], [size, size], size),
      ];
    });
    const bl = boxLogits.dataSync() as Float32Array;
    const pl = pointLogits.dataSync() as Float32Array;
    tf.dispose([boxLogits, pointLogits]);
    let k = 0;
    for (const s of chunk)
      for (const t of s.targets) {
        const bi = iou(bl, k * size * size, t.mask);
        const pi = iou(pl, k * size * size, t.mask);
        const fi = boxFill(t.mask, t.area, t.bbox, size);
        boxSum += bi;
        fillSum += fi;
        pointSum += pi;
        n++;
        const sh = (byShape[s.group ?? t.shape] ??= { boxIou: 0, boxFillIou: 0, count: 0 });
        sh.boxIou += bi;
        sh.boxFillIou += fi;
        sh.count++;
        k++;
      }
  }
  for (const sh of Object.values(byShape)) {
    sh.boxIou /= sh.count;
    sh.boxFillIou /= sh.count;
  }
  return { boxIou: boxSum / n, boxFillIou: fillSum / n, pointIou: pointSum / n, targets: n, byShape };
}
