import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { tf, toFloat32 } from '@casam/casam-core';
import { fixtureTensor } from '@casam/casam-core/testing';
import { caSamLoss, maskLossTerms } from './pretrain-loss';
import { pretrainLoss } from './pretrainer';

const G = 'casam/casam-golden.safetensors';
const golden = (name: string): Float32Array => toFloat32(fixtureTensor(G, name));
const t4 = (name: string): tf.Tensor4D =>
  tf.tensor4d(golden(name), fixtureTensor(G, name).shape as [number, number, number, number]);

describe('pretraining loss', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('matches the fixture loss (focal γ2 α0.25 + Dice smooth 1 + IoU MSE, 1:1:1) on binary targets', () => {
    const r = tf.tidy(() => {
      const l = caSamLoss(t4('loss.logits'), t4('loss.target'), tf.tensor2d(golden('loss.iou_pred'), [2, 1]));
      const terms = maskLossTerms(t4('loss.logits'), t4('loss.target'));
      return {
        total: l.total.dataSync()[0],
        focal: l.focal.dataSync()[0],
        dice: l.dice.dataSync()[0],
        iouMse: l.iouMse.dataSync()[0],
        dicePerMask: Array.from(terms.dice.dataSync()),
        iou: Array.from(terms.iou.dataSync()),
      };
    });
    expect(r.focal).toBeCloseTo(golden('loss.focal')[0], 5);
    expect(r.dice).toBeCloseTo(golden('loss.dice')[0], 5);
    expect(r.iouMse).toBeCloseTo(golden('loss.iou_mse')[0], 5);
    expect(r.total).toBeCloseTo(golden('loss.total')[0], 5);
    r.dicePerMask.forEach((d, i) => expect(d).toBeCloseTo(golden('loss.dice_per_mask')[i], 5));
    r.iou.forEach((v, i) => expect(v).toBeCloseTo(golden('loss.iou_target')[i], 6));
  });

  it('passes no gradient through the IoU target (it is computed from thresholded logits)', () => {
    const logits = t4('loss.logits');
    const target = t4('loss.target');
    const g = tf.grad((x: tf.Tensor) => tf.sum(maskLossTerms(x as tf.Tensor4D, target).iou))(logits);
    expect(g.dataSync().every((v) => v === 0)).toBe(true);
    tf.dispose([logits, target, g]);
  });

  it('trains token 0 plus the best multimask token, and the IoU head on all four', () => {
    const p = 3;
    const h = 8;
    const before = tf.memory().numTensors;
    const { loss, parts, gMasks, gIou } = tf.tidy(() => {
      const data = new Float32Array(p * 4 * h * h);
      for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37) * 3;
      const masks = tf.tensor4d(data, [p, 4, h, h]);
      const target = tf.tensor4d(
        Float32Array.from({ length: p * h * h }, (_, i) => (i % 5 < 2 ? 1 : i % 7 === 0 ? 0.5 : 0)),
        [p, 1, h, h],
      );
      const iou = tf.tensor2d(
        Float32Array.from({ length: p * 4 }, (_, i) => i / 12),
        [p, 4],
      );
      const r = pretrainLoss(masks, iou, target);
      const [gm, gi] = tf.grads(
        (m: tf.Tensor, q: tf.Tensor) => pretrainLoss(m as tf.Tensor4D, q as tf.Tensor2D, target).loss,
      )([masks, iou]);
      return {
        loss: r.loss.dataSync()[0],
        parts: Array.from(r.parts.dataSync()),
        gMasks: gm.arraySync() as number[][][][],
        gIou: gi.arraySync() as number[][],
      };
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(Number.isFinite(loss)).toBe(true);
    expect(parts[0]).toBeCloseTo(loss, 6);
    const nonZero = (m: number[][]): boolean => m.some((row) => row.some((v) => v !== 0));
    for (let i = 0; i < p; i++) {
      expect(nonZero(gMasks[i][0])).toBe(true); // token 0 always
      const trained = [1, 2, 3].filter((k) => nonZero(gMasks[i][k]));
      expect(trained).toHaveLength(1); // exactly one multimask token
      expect(gIou[i].every((v) => v !== 0)).toBe(true); // IoU head: all four
    }
  });
});
