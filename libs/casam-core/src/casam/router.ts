/**
 * CA-SAM routing: score an image's pooled feature under every task's VAE, take the argmin; use that task's
 * Alignment Layer when its score ≤ τ, otherwise fall back to the identity (plain frozen SAM). One decision per
 * image. Ties go to the task registered first; a NaN score never wins. Deterministic (z = μ).
 *
 * Which task wins is a routing rule (`RoutingRule`). The paper's rule compares raw VAE scores, but each task's
 * scores live on their own scale (τ 2.19 for one task, 0.96 for another on real data), so a task with a
 * low-scoring VAE can take images that a high-τ task claims well inside its threshold. The normalised rules
 * compare each score against its own task's calibration: score/τ, or a z-score from the held-out score
 * distribution (mean, std) behind τ. Acceptance is always the winner's own test, score ≤ τ, so fallback on
 * images no task claims is the same under every rule.
 */
import { tf } from '../sam/tf';
import { attentionPool } from './attention-pool';
import { TaskVae } from './task-vae';

export interface RouterTask {
  taskId: string;
  vae: TaskVae;
  tau: number;
  /** Mean and std of the held-out scores τ came from (the adapter's τ statistics); the z-score rule needs them. */
  tauStats?: { mean: number; std: number };
}

export interface TaskScore {
  taskId: string;
  score: number;
  tau: number;
  tauStats?: { mean: number; std: number };
}

/** How the winning task is chosen (see the file header). */
export type RoutingRule = 'paper' | 'score-over-tau' | 'z-score';
export const ROUTING_RULES: readonly RoutingRule[] = ['paper', 'score-over-tau', 'z-score'];
/** The rule used when none is named. */
export const DEFAULT_ROUTING_RULE: RoutingRule = 'paper';

/** The value a rule minimises for one task's score (smaller wins). */
export function routingKey(s: TaskScore, rule: RoutingRule): number {
  if (rule === 'score-over-tau' && s.tau > 0) return s.score / s.tau;
  if (rule === 'z-score' && s.tauStats && s.tauStats.std > 0)
    return (s.score - s.tauStats.mean) / s.tauStats.std;
  if (rule === 'z-score' && s.tau > 0) return s.score / s.tau; // no spread recorded: the next fairest rule
  return s.score;
}

export type RouteDecision =
  | ({ kind: 'task' } & TaskScore)
  | {
      kind: 'fallback';
      /** The argmin task that refused the image (score > τ); null when no task gave a score (none, or all NaN). */
      best: TaskScore | null;
    };

export interface RouteResult {
  decision: RouteDecision;
  /** Every task's score, in registration order. */
  scores: TaskScore[];
}

/** What `route` accepts: a pooled feature ([C] array, [C] or [1,C] tensor) or a raw embedding [1,C,H,W] NCHW. */
export type RouteInput = Float32Array | number[] | tf.Tensor;

export class RouterError extends Error {
  override name = 'RouterError';
}

export interface Router {
  readonly channels: number | null;
  readonly rule: RoutingRule;
  readonly taskIds: readonly string[];
  route(input: RouteInput): RouteResult;
  /** Many images at once: features [B,C] or raw embeddings [B,C,H,W] NCHW. */
  routeBatch(input: tf.Tensor2D | tf.Tensor4D): RouteResult[];
}

/** The decision for one image from its per-task scores (pure; exported for reuse and tests). */
export function decide(
  scores: readonly TaskScore[],
  rule: RoutingRule = DEFAULT_ROUTING_RULE,
): RouteDecision {
  let best: TaskScore | null = null;
  let bestKey = Infinity;
  for (const s of scores) {
    if (Number.isNaN(s.score)) continue;
    const key = routingKey(s, rule);
    if (best === null || key < bestKey) {
      best = s;
      bestKey = key;
    }
  }
  if (best !== null && best.score <= best.tau) return { kind: 'task', ...best };
  return { kind: 'fallback', best };
}

export interface RouterOptions {
  rule?: RoutingRule;
}

/**
 * Checks a router's options and task list (shared by the TF.js router and the fast router): a known rule,
 * non-empty unique ids, numeric τ, one feature width for all VAEs. Returns the rule and that width (null for no
 * tasks).
 */
export function checkRouterSetup(
  tasks: readonly { taskId: string; tau: number; vae: { inputDim: number } }[],
  rule: RoutingRule,
): { rule: RoutingRule; channels: number | null } {
  if (!ROUTING_RULES.includes(rule))
    throw new RouterError(`unknown routing rule "${String(rule)}"; known: ${ROUTING_RULES.join(', ')}`);
  const seen = new Set<string>();
  let channels: number | null = null;
  for (const t of tasks) {
    if (typeof t.taskId !== 'string' || t.taskId === '')
      throw new RouterError('every task needs a non-empty taskId');
    if (seen.has(t.taskId)) throw new RouterError(`task ${t.taskId} is registered twice`);
    seen.add(t.taskId);
    if (typeof t.tau !== 'number' || Number.isNaN(t.tau))
      throw new RouterError(`task ${t.taskId}: τ must be a number`);
    if (channels === null) channels = t.vae.inputDim;
    else if (t.vae.inputDim !== channels)
      throw new RouterError(
        `task ${t.taskId}: VAE takes ${t.vae.inputDim} features, others take ${channels}`,
      );
  }
  return { rule, channels };
}

export function createRouter(tasks: readonly RouterTask[], opts: RouterOptions = {}): Router {
  const { rule, channels } = checkRouterSetup(tasks, opts.rule ?? DEFAULT_ROUTING_RULE);
  const list = [...tasks];

  /** Features [B,C] as a tensor (new; caller disposes). */
  function toFeatures(input: tf.Tensor): tf.Tensor2D {
    if (input.rank === 4) {
      if (channels !== null && input.shape[1] !== channels)
        throw new RouterError(
          `embedding [${input.shape}] has ${input.shape[1]} channels; the tasks expect ${channels}`,
        );
      return attentionPool(input as tf.Tensor4D);
    }
    if (input.rank === 2) {
      if (channels !== null && input.shape[1] !== channels)
        throw new RouterError(
          `features [${input.shape}] have width ${input.shape[1]}; the tasks expect ${channels}`,
        );
      return tf.clone(input as tf.Tensor2D);
    }
    throw new RouterError(`expected features [B,C] or an NCHW embedding [B,C,H,W], got [${input.shape}]`);
  }

  function routeBatch(input: tf.Tensor2D | tf.Tensor4D): RouteResult[] {
    if (!(input instanceof tf.Tensor)) throw new RouterError('routeBatch needs a tensor');
    if (input.dtype !== 'float32') throw new RouterError(`input must be float32, got ${input.dtype}`);
    const b = input.shape[0];
    const perTask: Float32Array[] = [];
    if (list.length) {
      const f = toFeatures(input);
      try {
        for (const t of list) {
          const s = t.vae.score(f);
          perTask.push(s.dataSync() as Float32Array);
          s.dispose();
        }
      } finally {
        f.dispose();
      }
    } else toFeatures(input).dispose(); // still reject malformed input when nothing is registered
    const out: RouteResult[] = [];
    for (let i = 0; i < b; i++) {
      const scores = list.map((t, k) => ({
        taskId: t.taskId,
        score: perTask[k][i],
        tau: t.tau,
        ...(t.tauStats ? { tauStats: t.tauStats } : {}),
      }));
      out.push({ decision: decide(scores, rule), scores });
    }
    return out;
  }

  return {
    channels,
    rule,
    taskIds: list.map((t) => t.taskId),
    route(input: RouteInput): RouteResult {
      if (input instanceof tf.Tensor) {
        if (input.shape[0] !== 1 && input.rank !== 1)
          throw new RouterError(`route takes one image; use routeBatch for [${input.shape}]`);
        if (input.rank === 1) {
          const f = tf.reshape(input, [1, -1]) as tf.Tensor2D;
          try {
            return routeBatch(f)[0];
          } finally {
            f.dispose();
          }
        }
        return routeBatch(input as tf.Tensor2D | tf.Tensor4D)[0];
      }
      const arr = Float32Array.from(input);
      const f = tf.tensor2d(arr, [1, arr.length]);
      try {
        return routeBatch(f)[0];
      } finally {
        f.dispose();
      }
    },
    routeBatch,
  };
}
