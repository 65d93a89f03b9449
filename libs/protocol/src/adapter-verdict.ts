/**
 * Whether an adapter helps, from the validation metrics every adapter file carries (`iou`, `frozen_iou`,
 * `boxfill_iou`: the task's own validation split, box prompts, one box per region). A radiologist's cheapest
 * alternative to any model is to fill the box they drew, and frozen SAM is what the site gets without the
 * adapter, so the verdict compares against both. It is derived, never stored: the site agent's `train` and
 * `upload`, the coordinator's adapter listing and the admin UI compute the same verdict from the same numbers,
 * and a file cannot carry a verdict that contradicts its metrics.
 */
export type AdapterVerdictKind = 'recommended' | 'below-box-fill' | 'below-frozen' | 'unknown';

export interface AdapterVerdict {
  kind: AdapterVerdictKind;
  /** Validation IoU minus box-fill IoU, and minus frozen SAM's (null when a metric is missing). */
  overBoxFill: number | null;
  overFrozen: number | null;
  /** One line for people, e.g. "below filling the box by 0.06: not recommended". */
  text: string;
}

const num = (m: Readonly<Record<string, number>>, k: string): number | null =>
  typeof m[k] === 'number' && Number.isFinite(m[k]) ? m[k] : null;

export function adapterVerdict(metrics: Readonly<Record<string, number>>): AdapterVerdict {
  const iou = num(metrics, 'iou');
  const frozen = num(metrics, 'frozen_iou');
  const boxFill = num(metrics, 'boxfill_iou');
  const overFrozen = iou !== null && frozen !== null ? iou - frozen : null;
  const overBoxFill = iou !== null && boxFill !== null ? iou - boxFill : null;
  const f = (x: number): string => Math.abs(x).toFixed(3);
  if (overFrozen === null || overBoxFill === null)
    return { kind: 'unknown', overBoxFill, overFrozen, text: 'no validation comparison in the adapter' };
  if (overFrozen < 0)
    return {
      kind: 'below-frozen',
      overBoxFill,
      overFrozen,
      text: `worse than frozen SAM by ${f(overFrozen)} IoU: not recommended (the site is better off without it)`,
    };
  if (overBoxFill < 0)
    return {
      kind: 'below-box-fill',
      overBoxFill,
      overFrozen,
      text: `below filling the box by ${f(overBoxFill)} IoU (above frozen SAM by ${f(overFrozen)}): not recommended`,
    };
  return {
    kind: 'recommended',
    overBoxFill,
    overFrozen,
    text: `above filling the box by ${f(overBoxFill)} and frozen SAM by ${f(overFrozen)} IoU: recommended`,
  };
}
