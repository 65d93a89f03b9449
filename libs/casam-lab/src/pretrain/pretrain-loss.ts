import { FOCAL_ALPHA, tf } from '@casam/casam-core';

/** Per-mask loss terms for logits [N,K,h,w] against one target per row [N,1,h,w] (values in [0,1]). */
export interface MaskLossTerms {
  /** Sigmoid focal loss (γ 2, α 0.25), mean over the mask's pixels: [N,K]. */
  focal: tf.Tensor2D;
  /** 1 − soft Dice (smooth 1) on the probabilities: [N,K]. */
  dice: tf.Tensor2D;
  /** Hard IoU of (logits > 0) against (target > 0.5), eps 1e-7; carries no gradient: [N,K]. */
  iou: tf.Tensor2D;
}

/**
 * The CA-SAM loss terms (shared/fixtures README, `loss.*`), per mask so a caller can pick the best of several
 * candidate masks. Targets may be soft (area fractions); the formulas are the usual soft-label extensions and
 * equal the fixture's definitions on binary targets. Called inside the caller's tidy / gradient tape.
 */
export function maskLossTerms(logits: tf.Tensor4D, target: tf.Tensor4D): MaskLossTerms {
  const [n, k, h, w] = logits.shape;
  if (target.shape[0] !== n || target.shape[1] !== 1 || target.shape[2] !== h || target.shape[3] !== w)
    throw new Error(`target must be [${n},1,${h},${w}], got [${target.shape}]`);
  const hw = h * w;
  const l = tf.reshape(logits, [n, k, hw]);
  const t = tf.reshape(target, [n, 1, hw]);
  const p = tf.sigmoid(l);
  // BCE with logits, stable form: max(l, 0) − l·t + log(1 + e^−|l|).
  const ce = tf.add(tf.sub(tf.relu(l), tf.mul(l, t)), tf.softplus(tf.neg(tf.abs(l))));
  const oneMinusT = tf.sub(1, t);
  const pt = tf.add(tf.mul(p, t), tf.mul(tf.sub(1, p), oneMinusT));
  const alphaT = tf.add(tf.mul(t, FOCAL_ALPHA), tf.mul(oneMinusT, 1 - FOCAL_ALPHA));
  const focal = tf.mean(tf.mul(tf.mul(alphaT, tf.square(tf.sub(1, pt))), ce), 2) as tf.Tensor2D;

  const inter = tf.sum(tf.mul(p, t), 2);
  const dice = tf.sub(
    1,
    tf.div(tf.add(tf.mul(inter, 2), 1), tf.add(tf.add(tf.sum(p, 2), tf.sum(t, 2)), 1)),
  ) as tf.Tensor2D;

  // step() has a zero gradient, so the IoU target is detached from the logits, as the definition requires.
  const pred = tf.step(l);
  const gt = tf.step(tf.sub(t, 0.5));
  const hardInter = tf.sum(tf.mul(pred, gt), 2);
  const union = tf.sub(tf.add(tf.sum(pred, 2), tf.sum(gt, 2)), hardInter);
  const iou = tf.div(tf.add(hardInter, 1e-7), tf.add(union, 1e-7)) as tf.Tensor2D;
  return { focal, dice, iou };
}

/** focal + dice + MSE(iouPred, hard IoU), each averaged over masks: the fixture's `loss.total` (1:1:1). */
export function caSamLoss(
  logits: tf.Tensor4D,
  target: tf.Tensor4D,
  iouPred: tf.Tensor2D,
): { total: tf.Scalar; focal: tf.Scalar; dice: tf.Scalar; iouMse: tf.Scalar } {
  const terms = maskLossTerms(logits, target);
  const focal = tf.mean(terms.focal) as tf.Scalar;
  const dice = tf.mean(terms.dice) as tf.Scalar;
  const iouMse = tf.mean(tf.square(tf.sub(iouPred, terms.iou))) as tf.Scalar;
  return { total: tf.addN([focal, dice, iouMse]) as tf.Scalar, focal, dice, iouMse };
}
