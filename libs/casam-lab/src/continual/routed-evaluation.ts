/**
 * CA-SAM's per-image routing applied to precomputed scores. Each test image is scored once under every task's
 * Alignment Layer and under the identity (frozen SAM), and once under every task's VAE; the result of routing
 * over any subset of tasks (the tasks seen up to a stage) is then a lookup — exactly what running the router
 * and the chosen layer would give, without re-running the decoder for every stage and task order.
 */
import {
  AggregateMetrics,
  RegionMetrics,
  aggregateMetrics,
  DEFAULT_ROUTING_RULE,
  RouteDecision,
  RoutingRule,
  TaskScore,
  decide,
} from '@casam/casam-core';

/** Key of the identity transform (plain frozen SAM) in `RoutableImage.regions`. */
export const FALLBACK_TRANSFORM = 'frozen';

export class RoutedEvaluationError extends Error {
  override name = 'RoutedEvaluationError';
}

export interface RoutableImage {
  id: string;
  /** The task the image belongs to; null for an unseen domain. */
  trueTask: string | null;
  /** Every task's VAE score and τ for this image. */
  scores: readonly TaskScore[];
  /** Region scores of the image under each task's layer (by task id) and under `frozen`. */
  regions: Readonly<Record<string, readonly RegionMetrics[]>>;
}

export interface RoutedEvaluation {
  aggregate: AggregateMetrics;
  /** Per image: the task whose layer was used, or null where the router fell back to frozen SAM. */
  chosen: (string | null)[];
  /** Of the images whose true task is active: the share routed to it (fallback counts as wrong); null if none. */
  routingAccuracy: number | null;
  /** Share of images that fell back to frozen SAM. */
  fallbackRate: number;
}

/** The router's decision when only `active` tasks are registered. */
export function routeAmong(
  scores: readonly TaskScore[],
  active: ReadonlySet<string>,
  rule: RoutingRule = DEFAULT_ROUTING_RULE,
): RouteDecision {
  return decide(
    scores.filter((s) => active.has(s.taskId)),
    rule,
  );
}

export function evaluateRouted(
  images: readonly RoutableImage[],
  active: readonly string[],
  rule: RoutingRule = DEFAULT_ROUTING_RULE,
): RoutedEvaluation {
  if (images.length === 0) throw new RoutedEvaluationError('no images to evaluate');
  const set = new Set(active);
  const chosen: (string | null)[] = [];
  const perImage: (readonly RegionMetrics[])[] = [];
  let known = 0;
  let correct = 0;
  let fallbacks = 0;
  for (const img of images) {
    for (const t of set)
      if (!img.scores.some((s) => s.taskId === t))
        throw new RoutedEvaluationError(`image ${img.id} has no score for task ${t}`);
    const d = routeAmong(img.scores, set, rule);
    const key = d.kind === 'task' ? d.taskId : FALLBACK_TRANSFORM;
    const regions = img.regions[key];
    if (!regions) throw new RoutedEvaluationError(`image ${img.id} has no scores under ${key}`);
    perImage.push(regions);
    chosen.push(d.kind === 'task' ? d.taskId : null);
    if (d.kind === 'fallback') fallbacks++;
    if (img.trueTask !== null && set.has(img.trueTask)) {
      known++;
      if (d.kind === 'task' && d.taskId === img.trueTask) correct++;
    }
  }
  return {
    aggregate: aggregateMetrics(perImage),
    chosen,
    routingAccuracy: known ? correct / known : null,
    fallbackRate: fallbacks / images.length,
  };
}
