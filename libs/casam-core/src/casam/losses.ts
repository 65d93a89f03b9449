/**
 * The Alignment Layer's training loss on mask logits (differentiable, TensorFlow.js). Masks are [N, ...]: the
 * first axis indexes masks, the rest are pixels (e.g. [N,1,H,W]).
 *   focal   torchvision sigmoid_focal_loss form, γ = 2, α = 0.25, mean over every pixel of every mask
 *   dice    per mask 1 − (2Σpt + 1)/(Σp + Σt + 1) on p = sigmoid(logits), then the mean over masks
 *   iouMse  mean over masks of (iou_pred − IoU(logits > 0, t))², the hard IoU detached, eps 1e-7
 *   total   wFocal·focal + wDice·dice + wIou·iouMse (default 1:1:1)
 */
import { tf } from '../sam/tf';

/** γ = 2, applied as a square. */
export const FOCAL_GAMMA = 2;
export const FOCAL_ALPHA = 0.25;
export const DICE_SMOOTH = 1;
export const IOU_EPS = 1e-7;

export class LossInputError extends Error {
  override name = 'LossInputError';
}

export interface LossWeights {
  focal: number;
  dice: number;
  iou: number;
}

export const DEFAULT_LOSS_WEIGHTS: Readonly<LossWeights> = Object.freeze({ focal: 1, dice: 1, iou: 1 });

export interface SegmentationLoss {
  focal: tf.Scalar;
  dice: tf.Scalar;
  iouMse: tf.Scalar;
  total: tf.Scalar;
}

function checkPair(logits: tf.Tensor, target: tf.Tensor): void {
  if (logits.rank < 2) throw new LossInputError(`logits must be [N, ...pixels], got [${logits.shape}]`);
  if (logits.shape.length !== target.shape.length || logits.shape.some((d, i) => d !== target.shape[i]))
    throw new LossInputError(`target [${target.shape}] must have the shape of logits [${logits.shape}]`);
  if (logits.size === 0) throw new LossInputError('logits are empty');
  if (logits.dtype !== 'float32') throw new LossInputError(`logits must be float32, got ${logits.dtype}`);
}

/** [N, P] views of logits-shaped tensors. */
function flat(x: tf.Tensor): tf.Tensor2D {
  return tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D;
}

/** Per-pixel focal loss, same shape as the logits. */
export function focalLossPerPixel(logits: tf.Tensor, target: tf.Tensor): tf.Tensor {
  checkPair(logits, target);
  return tf.tidy(() => {
    const t = tf.cast(target, 'float32');
    const p = tf.sigmoid(logits);
    // BCE with logits, stable: max(l,0) − l·t + log(1 + e^−|l|)
    const ce = tf.add(tf.sub(tf.relu(logits), tf.mul(logits, t)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))));
    const oneMinusT = tf.sub(1, t);
    const pt = tf.add(tf.mul(p, t), tf.mul(tf.sub(1, p), oneMinusT));
    const alphaT = tf.add(tf.mul(t, FOCAL_ALPHA), tf.mul(oneMinusT, 1 - FOCAL_ALPHA));
    return tf.mul(tf.mul(alphaT, tf.square(tf.sub(1, pt))), ce);
  });
}

export function focalLoss(logits: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(focalLossPerPixel(logits, target)) as tf.Scalar);
}

/** Dice loss per mask [N]. */
export function diceLossPerMask(logits: tf.Tensor, target: tf.Tensor): tf.Tensor1D {
  checkPair(logits, target);
  return tf.tidy(() => {
    const p = flat(tf.sigmoid(logits));
    const t = flat(tf.cast(target, 'float32'));
    const num = tf.add(tf.mul(tf.sum(tf.mul(p, t), 1), 2), DICE_SMOOTH);
    const den = tf.add(tf.add(tf.sum(p, 1), tf.sum(t, 1)), DICE_SMOOTH);
    return tf.sub(1, tf.div(num, den)) as tf.Tensor1D;
  });
}

export function diceLoss(logits: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(diceLossPerMask(logits, target)) as tf.Scalar);
}

/**
 * Hard IoU of (logits > 0) against target per mask [N]. tf.step has a zero gradient, so nothing flows back into
 * the logits: the target is detached, as in the reference.
 */
export function hardIou(logits: tf.Tensor, target: tf.Tensor): tf.Tensor1D {
  checkPair(logits, target);
  return tf.tidy(() => {
    const p = flat(tf.step(logits)); // 1 where logit > 0, strictly
    const t = flat(tf.cast(tf.greater(target, 0.5), 'float32'));
    const inter = tf.sum(tf.mul(p, t), 1);
    const union = tf.sub(tf.add(tf.sum(p, 1), tf.sum(t, 1)), inter);
    return tf.div(tf.add(inter, IOU_EPS), tf.add(union, IOU_EPS)) as tf.Tensor1D;
  });
}

/** Mean over masks of (iou_pred − hard IoU)²; `iouPred` has N values ([N] or [N,1]). */
export function iouMseLoss(logits: tf.Tensor, target: tf.Tensor, iouPred: tf.Tensor): tf.Scalar {
  checkPair(logits, target);
  if (iouPred.size !== logits.shape[0])
    throw new LossInputError(`iouPred [${iouPred.shape}] needs one value per mask (${logits.shape[0]})`);
  return tf.tidy(
    () => tf.mean(tf.squaredDifference(tf.reshape(iouPred, [-1]), hardIou(logits, target))) as tf.Scalar,
  );
}

/** All terms and the weighted total. Every tensor is new and owned by the caller. */
export function segmentationLoss(
  logits: tf.Tensor,
  target: tf.Tensor,
  iouPred: tf.Tensor,
  weights: Partial<LossWeights> = {},
): SegmentationLoss {
  const w = { ...DEFAULT_LOSS_WEIGHTS, ...weights };
  for (const [k, v] of Object.entries(w))
    if (!Number.isFinite(v) || v < 0)
      throw new LossInputError(`loss weight ${k} must be finite and ≥ 0, got ${v}`);
  return tf.tidy(() => {
    const focal = focalLoss(logits, target);
    const dice = diceLoss(logits, target);
    const iouMse = iouMseLoss(logits, target, iouPred);
    const total = tf.addN([tf.mul(focal, w.focal), tf.mul(dice, w.dice), tf.mul(iouMse, w.iou)]) as tf.Scalar;
    return { focal, dice, iouMse, total };
  });
}
