import { describe, expect, it } from 'vitest';
import { tf } from '../sam/tf';
import { maxAbsDiff } from '../testing/fixtures';
import { golden, goldenTf, useBackend } from './casam-fixtures.testing';
import {
  LossInputError,
  diceLossPerMask,
  focalLossPerPixel,
  hardIou,
  iouMseLoss,
  segmentationLoss,
} from './losses';

describe.each(['cpu', 'wasm'] as const)('segmentation loss on %s', (backend) => {
  it('every term matches the reference', async () => {
    await useBackend(backend);
    const l = goldenTf('loss.logits');
    const t = goldenTf('loss.target');
    const p = goldenTf('loss.iou_pred');
    const before = tf.memory().numTensors;
    const fpp = focalLossPerPixel(l, t);
    const dpm = diceLossPerMask(l, t);
    const iou = hardIou(l, t);
    const loss = segmentationLoss(l, t, p);
    const loss20 = segmentationLoss(l, t, p, { focal: 20 });
    const d = {
      focal_per_pixel: maxAbsDiff(fpp.dataSync(), golden('loss.focal_per_pixel')),
      focal: maxAbsDiff(loss.focal.dataSync(), golden('loss.focal')),
      dice_per_mask: maxAbsDiff(dpm.dataSync(), golden('loss.dice_per_mask')),
      dice: maxAbsDiff(loss.dice.dataSync(), golden('loss.dice')),
      iou_target: maxAbsDiff(iou.dataSync(), golden('loss.iou_target')),
      iou_mse: maxAbsDiff(loss.iouMse.dataSync(), golden('loss.iou_mse')),
      total: maxAbsDiff(loss.total.dataSync(), golden('loss.total')),
      total_20_1_1: maxAbsDiff(loss20.total.dataSync(), golden('loss.total_20_1_1')),
    };
    console.log(`[${backend}] loss max abs diff`, JSON.stringify(d));
    for (const [k, v] of Object.entries(d)) expect(v, k).toBeLessThan(k === 'total_20_1_1' ? 1e-5 : 1e-6);
    expect(loss.total.dataSync()[0]).toBeCloseTo(0.894272387, 6);
    tf.dispose([fpp, dpm, iou, ...Object.values(loss), ...Object.values(loss20)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([l, t, p]);
  });

  it('is differentiable: finite non-zero gradients for logits and iou_pred; the IoU target is detached', async () => {
    await useBackend(backend);
    const l = goldenTf('loss.logits');
    const t = goldenTf('loss.target');
    const p = goldenTf('loss.iou_pred');
    const before = tf.memory().numTensors;
    const [gl, gp] = tf.grads((a: tf.Tensor, b: tf.Tensor) => segmentationLoss(a, t, b).total)([l, p]);
    const gld = gl.dataSync();
    expect(gld.every(Number.isFinite)).toBe(true);
    expect(gld.some((v) => v !== 0)).toBe(true);
    // d iou_mse / d iou_pred = 2(pred − target)/N
    const target = golden('loss.iou_target');
    const pred = golden('loss.iou_pred');
    expect(maxAbsDiff(gp.dataSync(), [(pred[0] - target[0]) * 1, (pred[1] - target[1]) * 1])).toBeLessThan(
      1e-6,
    );
    // Only through the detached target would the IoU term reach the logits: its gradient must be exactly 0.
    const gIou = tf.grad((a: tf.Tensor) => iouMseLoss(a, t, p))(l);
    expect(gIou.dataSync().every((v) => v === 0)).toBe(true);
    tf.dispose([gl, gp, gIou]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([l, t, p]);
  });
});

describe('segmentation loss input checks', () => {
  it('names the problem', async () => {
    await useBackend('cpu');
    const l = tf.zeros([2, 1, 4, 4]);
    const t = tf.zeros([2, 1, 4, 5]);
    expect(() => segmentationLoss(l, t, tf.zeros([2]))).toThrow(LossInputError);
    expect(() => segmentationLoss(l, t, tf.zeros([2]))).toThrow(/must have the shape of logits/);
    expect(() => segmentationLoss(l, l, tf.zeros([3]))).toThrow(/one value per mask/);
    expect(() => segmentationLoss(l, l, tf.zeros([2]), { dice: -1 })).toThrow(/weight dice/);
    expect(() => focalLossPerPixel(tf.zeros([4]), tf.zeros([4]))).toThrow(/\[N, ...pixels\]/);
    // A logit of exactly 0 is background for the hard IoU (P = logits > 0 strictly).
    const iou = hardIou(tf.tensor2d([[0, 1]]), tf.tensor2d([[1, 1]]));
    expect(iou.dataSync()[0]).toBeCloseTo(0.5, 6);
  });
});
