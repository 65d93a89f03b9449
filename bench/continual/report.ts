/**
 * Turns the benchmark state into results: the matrices a[t][j] per method and order, their scores, CA-SAM's
 * routing, costs and the issue's "must show" checks; then writes them as JSON, a markdown report and PNG charts
 * (ECharts SVG, rasterised by resvg).
 * A state of an unfinished run gives a partial report (`--report-only` mid-run): methods and orders appear as
 * far as they got, spreads use finished orders only, and checks that need something unfinished are "pending".
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AlStepFlops,
  AlTimings,
  DEFAULT_ROUTING_RULE,
  ROUTING_RULES,
  RoutingRule,
  RegionMetrics,
  SamConfig,
  aggregateMetrics,
} from '@casam/casam-core';
import {
  ContinualSummary,
  type MachineInfo,
  RoutableImage,
  Spread,
  barPanelsChart,
  evaluateRouted,
  heatmapChart,
  lineChart,
  spreadOf,
  summarizeContinual,
  svgToPng,
} from '@casam/casam-lab';
import { fmtDuration } from './progress';
import { DECODER_ADAPTER, METHODS, METHOD_LABELS, METHOD_SHORT, MethodName, Plan } from './protocol';
import { casamTaskKey } from './state';
import type { BenchState, CasamImage, CasamTaskRecord, ImageRegions, UnitCost } from './state';

/** The machine block of this benchmark, in its older field names (saved runs carry them; the report reads them). */
export interface ContinualMachine {
  cpus: number;
  cpuModel: string;
  node: string;
  loadAverage1m: number;
}

export function continualMachine(m: MachineInfo): ContinualMachine {
  return { cpus: m.cores, cpuModel: m.model ?? '', node: m.node, loadAverage1m: m.loadavgAtStart[0] };
}

const SHORT_DOMAIN: Record<string, string> = {
  'acdc-cardiac-mr': 'acdc',
  'ebhi-colon-pathology': 'ebhi',
  'kidney-56nx-glomerulus': '56nx',
  'kidney-dn-glomerulus': 'dn',
  'polyp-endoscopy': 'polyp',
  'msd-prostate-zones': 'msd-prostate',
  'msd-spleen-ct': 'spleen',
  'promise12-prostate-mr': 'promise12',
  'sts-dental-xray': 'sts-dental',
  'optic-disc-fundus': 'optic-disc',
  'skin-lesion-dermoscopy': 'skin-lesion',
  'breast-ultrasound-lesion': 'breast-us',
};

export function shortDomain(d: string): string {
  return SHORT_DOMAIN[d] ?? d.split('-')[0];
}

export interface OrderResult {
  /** Index into protocol.orders (0 = the paper's order). */
  index: number;
  order: string[];
  /** a[t][j]: IoU of task order[j] after stage t (j ≤ t); fewer rows while the order is unfinished. */
  matrix: number[][];
  complete: boolean;
  summary: ContinualSummary;
}

export interface MethodResult {
  label: string;
  /** Orders with at least one finished stage (joint: its single final row, the same for every order). */
  orders: OrderResult[];
  /** Over finished orders. */
  spread: { avgIou: Spread | null; avgForgetting: Spread | null; bwt: Spread | null };
  /** IoU per task after the last finished stage of the paper order. */
  finalByTask: Record<string, number>;
  /** Final IoU per task, mean over the finished orders (null before one has finished). */
  finalByTaskMean: Record<string, number> | null;
  /** How many orders finalByTaskMean averages. */
  finishedOrders: number;
}

export interface MethodCost {
  trainableParameters: number;
  /** Per task, for CA-SAM (and the decoder delta's, for CA-SAM + decoder adapter). */
  perTask?: { alParameters: number; vaeParameters: number; decoderParameters?: number };
  flopsPerStep: number | null;
  /** Optimizer steps behind one final model (one order for sequential/EWC). */
  stepsPerRun: number;
  trainingFlopsPerRun: number;
  /** Extra compute outside AL steps (EWC: Fisher passes), FLOPs per run. */
  extraFlopsPerRun: number;
  secondsPerEpoch: number | null;
  /** Mean AL step time (ms) from the trainer's timers. */
  stepMs: number | null;
  share: AlTimings['share'] | null;
  /** Wall seconds of all finished units of the method (all orders). */
  wallSeconds: number;
  peakRssBytes: number;
  peakTensorBytes: number;
}

/** Thresholds the adapter's τ statistics carry: p97 is τ itself. */
type TauChoice = 'p95' | 'p97' | 'p99';
const TAU_CHOICES: readonly TauChoice[] = ['p95', 'p97', 'p99'];

export interface CasamRouting {
  routingByOrder: {
    order: string[];
    stages: { stage: number; routingAccuracy: number; fallbackRateSeen: number }[];
  }[];
  /** Each scored order's own set after its last stage: seen and unseen test images. */
  finalByOrder: {
    index: number;
    routingAccuracy: number;
    fallbackRateSeen: number;
    unseenFallbackRate: number;
    unseenIou: number;
  }[];
  /**
   * Every routing rule on the same scores: per order's set after its last stage, then the mean over the sets.
   * Absent in reports of runs made before the rules existed.
   */
  rules?: {
    rule: RoutingRule;
    routingAccuracy: number;
    fallbackRateSeen: number;
    unseenFallbackRate: number;
    avgIou: number;
    byOrder: { index: number; routingAccuracy: number; unseenFallbackRate: number; avgIou: number }[];
  }[];
  /**
   * The default rule with every task's threshold at p95, p97 (τ, the spec's) and p99 of its held-out scores, all
   * three from the adapters' τ statistics; means over the scored orders' sets. Absent in older reports.
   */
  tauChoices?: {
    threshold: TauChoice;
    sets: number;
    routingAccuracy: number;
    fallbackRateSeen: number;
    misrouteRateSeen: number;
    unseenFallbackRate: number;
  }[];
  /** The paper order's set, final stage over all seen test images (as the rest below). */
  routingAccuracy: number;
  fallbackRateSeen: number;
  unseen: {
    byDomain: Record<
      string,
      { images: number; fallbackRate: number; iou: number; frozenIou: number; boxFillIou: number }
    >;
    fallbackRate: number;
    iou: number;
    frozenIou: number;
    boxFillIou: number;
  };
  /** Each task's own layer on its own test images, no routing (what perfect routing would give). */
  ownLayerIou: Record<string, number>;
  tau: Record<string, { tau: number; p95: number; p99: number; mean: number; std: number; n: number }>;
}

export interface MustShowCheck {
  claim: string;
  value: string;
  /** null: what it needs has not run yet. */
  pass: boolean | null;
}

export interface ContinualResults {
  benchmark: 'continual';
  date: string;
  command: string;
  /** Written by `--report-only` from the saved state (date and load are the report's, not the run's). */
  reportOnly: boolean;
  quick: boolean;
  /** Units not finished yet (empty for a complete run). */
  pending: string[];
  model: { path: string; preset: string; fingerprint: string; step: string | null; source: string | null };
  backend: string;
  machine: ContinualMachine;
  protocol: Plan & { evaluation: string; budget: string };
  zeroShot: Record<
    string,
    {
      frozenIou: number;
      frozenDice: number;
      boxFillIou: number;
      images: number;
      regions: number;
      unseen: boolean;
    }
  >;
  boxFill: { byTask: Record<string, number>; avgIou: number; avgByStage: number[][] };
  methods: Partial<Record<MethodName, MethodResult>>;
  casam: CasamRouting | null;
  /**
   * CA-SAM + decoder adapter (paper order's set only): its routing, as `casam`'s, and the delta's settings.
   * Absent in reports of runs before the arm.
   */
  decoderAdapter?: {
    rank: number;
    alpha: number;
    /** Orders with a set (the paper order only). */
    orders: number[];
    routing: CasamRouting | null;
  };
  cost: Partial<Record<MethodName, MethodCost>>;
  alStep: {
    /** Median step measured right after the encoder timing (the two under the same load). */
    stepMs: number | null;
    /** Mean step over all CA-SAM training (its own load). */
    trainingStepMs: number | null;
    encoderMsPerImage: number | null;
    stepOverEncoder: number | null;
    batch: { images: number; regions: number };
    flops: AlStepFlops;
    share: AlTimings['share'] | null;
    secondsPerEpoch: number | null;
    imagesPerEpoch: number;
    embedSeconds: number | null;
    /** Images the encoder embedded in that phase (0: everything came from an earlier run's cache). */
    embeddedImages: number | null;
  };
  ewc: { lambda: number; gamma: number; fisherMeanByStage: (number | null)[] };
  mustShow: MustShowCheck[];
  notes: string[];
}

function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

function iouOf(
  rows: readonly ImageRegions[],
  domain: string,
): { iou: number; dice: number; images: number; regions: number } {
  const m = aggregateMetrics(rows.filter((r) => r.domain === domain).map((r) => r.regions));
  return { iou: m.iou, dice: m.dice, images: m.images, regions: m.regions };
}

function orderResult(index: number, order: string[], matrix: number[][]): OrderResult {
  return {
    index,
    order,
    matrix,
    complete: matrix.length === order.length,
    summary: summarizeContinual(matrix),
  };
}

/** The pooled reference: one row after all tasks; forgetting and BWT do not apply. */
function pooledResult(index: number, order: string[], row: number[]): OrderResult {
  const avg = mean(row);
  return {
    index,
    order,
    matrix: [row],
    complete: true,
    summary: { stages: 1, avgIou: avg, avgIouByStage: [avg], forgetting: [], avgForgetting: null, bwt: null },
  };
}

function methodResult(label: string, orders: OrderResult[]): MethodResult | undefined {
  if (orders.length === 0) return undefined;
  const done = orders.filter((o) => o.complete);
  const paper = orders.find((o) => o.index === 0) ?? orders[0];
  const last = paper.matrix[paper.matrix.length - 1];
  return {
    label,
    orders,
    spread: {
      avgIou: spreadOf(done.map((o) => o.summary.avgIou)),
      avgForgetting: spreadOf(done.map((o) => o.summary.avgForgetting)),
      bwt: spreadOf(done.map((o) => o.summary.bwt)),
    },
    finalByTask: Object.fromEntries(paper.order.slice(0, last.length).map((t, j) => [t, last[j]])),
    finalByTaskMean: done.length
      ? Object.fromEntries(
          paper.order.map((t) => [
            t,
            mean(done.map((o) => o.matrix[o.matrix.length - 1][o.order.indexOf(t)])),
          ]),
        )
      : null,
    finishedOrders: done.length,
  };
}

/** The paper order's result of a method, when it has one. */
export function paperRun(m: MethodResult | undefined): OrderResult | undefined {
  return m?.orders.find((o) => o.index === 0);
}

function aggregateTimings(units: readonly UnitCost[]): {
  share: AlTimings['share'] | null;
  stepMs: number | null;
  secondsPerEpoch: number | null;
} {
  const ts = units.map((u) => u.timings).filter((t): t is AlTimings => t !== null && t.steps > 0);
  if (!ts.length) return { share: null, stepMs: null, secondsPerEpoch: null };
  const ph = { al: 0, decoder: 0, loss: 0, data: 0, optimizer: 0 };
  let steps = 0;
  for (const t of ts) {
    const p = t.phasesMs;
    ph.al += p.alForward + p.alBackward;
    ph.decoder += p.decoderForward + p.decoderBackward;
    ph.loss += p.lossForward + p.lossBackward;
    ph.data += p.data;
    ph.optimizer += p.optimizer;
    steps += t.steps;
  }
  const total = ph.al + ph.decoder + ph.loss + ph.data + ph.optimizer || 1;
  const epochs = ts.flatMap((t) => t.secondsPerEpoch);
  return {
    share: {
      al: ph.al / total,
      decoder: ph.decoder / total,
      loss: ph.loss / total,
      data: ph.data / total,
      optimizer: ph.optimizer / total,
    },
    stepMs: total / steps,
    secondsPerEpoch: epochs.length ? mean(epochs) : null,
  };
}

export interface BuildInput {
  state: BenchState;
  plan: Plan;
  cfg: SamConfig;
  command: string;
  reportOnly: boolean;
  model: { path: string; fingerprint: string; step: string | null; source: string | null };
  backend: string;
  machine: ContinualResults['machine'];
  stepFlops: AlStepFlops;
}

/**
 * Routing and matrices of a per-task set: `sets[k]` = order k's test images scored under its tasks (absent
 * where not scored), `taskOf(k, d)` = order k's record of task d (τ statistics, own-layer IoU).
 */
function casamRouting(
  state: BenchState,
  plan: Plan,
  sets: Readonly<Record<string, CasamImage[] | undefined>>,
  taskOf: (order: number, d: string) => CasamTaskRecord | undefined,
): { routing: CasamRouting; orders: OrderResult[] } | null {
  const scored = sets[0];
  if (!scored || !state.zeroShot) return null;
  const seen = plan.orders[0];
  const routable = (imgs: CasamImage[]): (CasamImage & RoutableImage)[] =>
    imgs.map((i) => ({ ...i, trueTask: i.unseen ? null : i.domain }));
  const inDomain =
    (imgs: (CasamImage & RoutableImage)[]) =>
    (d: string): (CasamImage & RoutableImage)[] =>
      imgs.filter((i) => i.domain === d);
  const paperTask = (d: string): CasamTaskRecord => taskOf(0, d)!;
  // Each scored order's final set, split once: the images of its tasks' domains and the unseen domains' images.
  const finals = plan.orders.flatMap((order, k) => {
    const set = sets[k];
    if (!set) return [];
    const images = routable(set);
    const seenImgs = images.filter((i) => !i.unseen && order.includes(i.domain));
    return [{ order, k, images, seenImgs, unseenImgs: images.filter((i) => i.unseen) }];
  });
  const orders: OrderResult[] = [];
  const routingByOrder: CasamRouting['routingByOrder'] = [];
  const finalByOrder: CasamRouting['finalByOrder'] = [];
  for (const { order, k, images, unseenImgs } of finals) {
    // Order k is routed by its own set of layers and VAEs.
    const imagesOf = inDomain(images);
    const matrix: number[][] = [];
    const stages: CasamRouting['routingByOrder'][number]['stages'] = [];
    for (let t = 0; t < order.length; t++) {
      const active = order.slice(0, t + 1);
      matrix.push(active.map((d) => evaluateRouted(imagesOf(d), active).aggregate.iou));
      const r = evaluateRouted(active.flatMap(imagesOf), active);
      stages.push({
        stage: t + 1,
        routingAccuracy: r.routingAccuracy ?? NaN,
        fallbackRateSeen: r.fallbackRate,
      });
    }
    orders.push(orderResult(k, order, matrix));
    routingByOrder.push({ order, stages });
    const last = stages[stages.length - 1];
    const unseen = evaluateRouted(unseenImgs, seen);
    finalByOrder.push({
      index: k,
      routingAccuracy: last.routingAccuracy,
      fallbackRateSeen: last.fallbackRateSeen,
      unseenFallbackRate: unseen.fallbackRate,
      unseenIou: unseen.aggregate.iou,
    });
  }
  // The same final-stage scores under every routing rule.
  const rules = ROUTING_RULES.map((rule) => {
    const byOrder = finals.map(({ order, k, images, seenImgs, unseenImgs }) => {
      const r = evaluateRouted(seenImgs, order, rule);
      const perDomain = order.map((d) => evaluateRouted(inDomain(images)(d), order, rule).aggregate.iou);
      return {
        index: k,
        routingAccuracy: r.routingAccuracy ?? NaN,
        fallbackRateSeen: r.fallbackRate,
        unseenFallbackRate: evaluateRouted(unseenImgs, order, rule).fallbackRate,
        avgIou: perDomain.reduce((a, b) => a + b, 0) / perDomain.length,
      };
    });
    const mean = (f: (x: (typeof byOrder)[number]) => number): number =>
      byOrder.reduce((a, x) => a + f(x), 0) / byOrder.length;
    return {
      rule,
      routingAccuracy: mean((x) => x.routingAccuracy),
      fallbackRateSeen: mean((x) => x.fallbackRateSeen),
      unseenFallbackRate: mean((x) => x.unseenFallbackRate),
      avgIou: mean((x) => x.avgIou),
      byOrder: byOrder.map(({ fallbackRateSeen: _, ...x }) => x),
    };
  });
  // The default rule with each task's threshold at p95, p97 (τ) and p99 of its held-out scores (all in the adapter).
  const tauChoices = TAU_CHOICES.map((choice) => {
    let routing = 0;
    let fallbackSeen = 0;
    let misrouted = 0;
    let unseenFallback = 0;
    let n = 0;
    for (const { order, k, seenImgs, unseenImgs } of finals) {
      const stats = new Map(order.map((d) => [d, taskOf(k, d)?.tau]));
      if (order.some((d) => !stats.get(d))) continue;
      const withThreshold = <T extends CasamImage>(imgs: T[]): T[] =>
        imgs.map((i) => ({
          ...i,
          scores: i.scores.map((s) => {
            const t = stats.get(s.taskId);
            return t && choice !== 'p97' ? { ...s, tau: t[choice] } : s;
          }),
        }));
      const r = evaluateRouted(withThreshold(seenImgs), order);
      routing += r.routingAccuracy ?? NaN;
      fallbackSeen += r.fallbackRate;
      misrouted += 1 - (r.routingAccuracy ?? NaN) - r.fallbackRate;
      unseenFallback += evaluateRouted(withThreshold(unseenImgs), order).fallbackRate;
      n++;
    }
    return n
      ? {
          threshold: choice,
          sets: n,
          routingAccuracy: routing / n,
          fallbackRateSeen: fallbackSeen / n,
          misrouteRateSeen: misrouted / n,
          unseenFallbackRate: unseenFallback / n,
        }
      : null;
  }).filter((x) => x !== null);
  // The claims' figures: the paper order's set (scored, so finalByOrder[0] is its last stage).
  const paper = finalByOrder[0];
  const images = routable(scored);
  const imagesOf = inDomain(images);
  const unseenImgs = images.filter((i) => i.unseen);
  const frozenOf = (imgs: CasamImage[]): number => aggregateMetrics(imgs.map((i) => i.regions['frozen'])).iou;
  const boxFillRows = new Map(state.zeroShot.boxFill.map((r) => [r.id, r.regions]));
  const boxFillOf = (imgs: CasamImage[]): number =>
    aggregateMetrics(imgs.map((i) => boxFillRows.get(i.id)! as RegionMetrics[])).iou;
  return {
    orders,
    routing: {
      routingByOrder,
      finalByOrder,
      rules,
      tauChoices,
      routingAccuracy: paper.routingAccuracy,
      fallbackRateSeen: paper.fallbackRateSeen,
      unseen: {
        byDomain: Object.fromEntries(
          plan.unseen.map((d) => {
            const imgs = imagesOf(d);
            const r = evaluateRouted(imgs, seen);
            return [
              d,
              {
                images: imgs.length,
                fallbackRate: r.fallbackRate,
                iou: r.aggregate.iou,
                frozenIou: frozenOf(imgs),
                boxFillIou: boxFillOf(imgs),
              },
            ];
          }),
        ),
        fallbackRate: paper.unseenFallbackRate,
        iou: paper.unseenIou,
        frozenIou: frozenOf(unseenImgs),
        boxFillIou: boxFillOf(unseenImgs),
      },
      ownLayerIou: Object.fromEntries(seen.map((d) => [d, paperTask(d).ownIou])),
      tau: Object.fromEntries(
        seen.map((d) => {
          const t = paperTask(d).tau;
          return [d, { tau: t.tau, p95: t.p95, p99: t.p99, mean: t.mean, std: t.std, n: t.n }];
        }),
      ),
    },
  };
}

export function buildResults(inp: BuildInput): ContinualResults {
  const { state, plan } = inp;
  const seen = plan.orders[0];
  const zs = state.zeroShot;
  if (!zs) throw new Error('the state holds no zero-shot evaluation yet: nothing to report');
  const zeroShot: ContinualResults['zeroShot'] = {};
  for (const d of [...seen, ...plan.unseen]) {
    const f = iouOf(zs.frozen, d);
    zeroShot[d] = {
      frozenIou: f.iou,
      frozenDice: f.dice,
      boxFillIou: iouOf(zs.boxFill, d).iou,
      images: f.images,
      regions: f.regions,
      unseen: plan.unseen.includes(d),
    };
  }
  const constMatrix = (order: string[], v: (t: string) => number): number[][] =>
    order.map((_, t) => order.slice(0, t + 1).map(v));
  const boxFillByTask = Object.fromEntries(seen.map((d) => [d, zeroShot[d].boxFillIou]));

  const pending: string[] = [];
  plan.orders.forEach((_, o) => {
    const missing = seen.filter((t) => !state.casamTasks[casamTaskKey(o, t)]);
    if (missing.length) pending.push(`CA-SAM order ${o + 1}: ${missing.length} tasks`);
    if (!state.casamImages[o]) pending.push(`CA-SAM order ${o + 1}: scoring of the test images`);
  });
  const ca = casamRouting(state, plan, state.casamImages, (k, d) => state.casamTasks[casamTaskKey(k, d)]);
  const decoderTasks = state.decoderTasks ?? {};
  const decoderMissing = seen.filter((t) => !decoderTasks[t]).length;
  if (decoderMissing) pending.push(`CA-SAM + decoder adapter: ${decoderMissing} tasks`);
  if (!state.decoderImages) pending.push('CA-SAM + decoder adapter: scoring of the test images');
  const cd = casamRouting(state, plan, { 0: state.decoderImages }, (k, d) =>
    k === 0 ? decoderTasks[d] : undefined,
  );
  const stageOrders = (method: 'sequential' | 'ewc'): OrderResult[] =>
    plan.orders.flatMap((order, o) => {
      const recs = state.stages[`${method}:${o}`] ?? [];
      if (recs.length < order.length)
        pending.push(`${method} order ${o + 1}: ${order.length - recs.length} stages`);
      return recs.length
        ? [
            orderResult(
              o,
              order,
              recs.map((s) => s.row),
            ),
          ]
        : [];
    });
  const joint = state.joint;
  if (!joint) pending.push('joint');
  const methods: Partial<Record<MethodName, MethodResult>> = {
    frozen: methodResult(
      METHOD_LABELS.frozen,
      plan.orders.map((order, k) =>
        orderResult(
          k,
          order,
          constMatrix(order, (d) => zeroShot[d].frozenIou),
        ),
      ),
    ),
    casam: ca ? methodResult(METHOD_LABELS.casam, ca.orders) : undefined,
    casamDecoder: cd ? methodResult(METHOD_LABELS.casamDecoder, cd.orders) : undefined,
    sequential: methodResult(METHOD_LABELS.sequential, stageOrders('sequential')),
    ewc: methodResult(METHOD_LABELS.ewc, stageOrders('ewc')),
    // One pooled run: its final row is the matrix (forgetting and BWT are not defined).
    joint: joint
      ? methodResult(
          METHOD_LABELS.joint,
          plan.orders.map((order, k) =>
            pooledResult(
              k,
              order,
              order.map((d) => joint.iou[d]),
            ),
          ),
        )
      : undefined,
  };
  for (const m of METHODS) if (!methods[m]) delete methods[m];

  // Costs.
  const flopsPerStep = inp.stepFlops.total;
  const casamUnits = Object.values(state.casamTasks);
  const stageUnits = (m: string): UnitCost[] =>
    Object.entries(state.stages)
      .filter(([k]) => k.startsWith(m + ':'))
      .flatMap(([, v]) => v);
  const peak = (us: readonly UnitCost[]): [number, number] => [
    Math.max(0, ...us.map((u) => u.memory.rssBytes)),
    Math.max(0, ...us.map((u) => u.memory.tensorBytes)),
  ];
  const alParams = casamUnits[0]?.alParameters ?? 0;
  const vaeParams = casamUnits[0]?.vaeParameters ?? 0;
  const taskSteps = plan.epochs * Math.ceil(plan.trainImages / plan.batchImages);
  const runSteps = taskSteps * seen.length;
  // One image and its regions: about one sixth of a step.
  const fisherFlopsPerImage = inp.stepFlops.total / plan.batchImages;
  const ewcFisherImages = (state.stages['ewc:0'] ?? []).reduce((s, r) => s + (r.fisherImages ?? 0), 0);
  const cost = (
    units: UnitCost[],
    params: number,
    steps: number,
    extra = 0,
    flops: number | null = flopsPerStep,
  ): MethodCost => {
    const t = aggregateTimings(units);
    const [rss, tensors] = peak(units);
    return {
      trainableParameters: params,
      flopsPerStep: flops,
      stepsPerRun: steps,
      trainingFlopsPerRun: (flops ?? 0) * steps,
      extraFlopsPerRun: extra,
      secondsPerEpoch: t.secondsPerEpoch,
      stepMs: t.stepMs,
      share: t.share,
      wallSeconds: units.reduce((s, u) => s + u.seconds, 0),
      peakRssBytes: rss,
      peakTensorBytes: tensors,
    };
  };
  const costs: Partial<Record<MethodName, MethodCost>> = { frozen: cost([], 0, 0, 0, null) };
  if (casamUnits.length)
    costs.casam = {
      ...cost(casamUnits, seen.length * (alParams + vaeParams), runSteps),
      perTask: { alParameters: alParams, vaeParameters: vaeParams },
    };
  if (methods.sequential) costs.sequential = cost(stageUnits('sequential'), alParams, runSteps);
  if (methods.ewc)
    costs.ewc = cost(stageUnits('ewc'), alParams, runSteps, ewcFisherImages * fisherFlopsPerImage);
  if (joint)
    costs.joint = cost(
      [joint],
      alParams,
      plan.epochs * Math.ceil((plan.trainImages * seen.length) / plan.batchImages),
    );
  const decoderUnits = Object.values(decoderTasks);
  if (decoderUnits.length) {
    const u = decoderUnits[0];
    costs.casamDecoder = {
      ...cost(decoderUnits, seen.length * (u.alParameters + u.vaeParameters + u.decoderParameters), runSteps),
      perTask: {
        alParameters: u.alParameters,
        vaeParameters: u.vaeParameters,
        decoderParameters: u.decoderParameters,
      },
    };
  }
  const casamT = aggregateTimings(casamUnits);

  // The issue's claims, checked on the paper order (spreads across orders are in the tables).
  const bfAvg = mean(seen.map((d) => boxFillByTask[d]));
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  const f = (x: number | null): string => (x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(3));
  const caRun = paperRun(methods.casam);
  const caS = caRun?.complete ? caRun.summary : null;
  const fz = paperRun(methods.frozen)!.summary;
  const finished = (m: MethodName): ContinualSummary | null => {
    const r = paperRun(methods[m]);
    return r?.complete ? r.summary : null;
  };
  const check = (claim: string, ready: boolean, value: () => string, pass: () => boolean): MustShowCheck =>
    ready ? { claim, value: value(), pass: pass() } : { claim, value: 'pending', pass: null };
  const seq = finished('sequential');
  const ewc = finished('ewc');
  const above = caS ? seen.filter((d) => methods.casam!.finalByTask[d] > boxFillByTask[d]).length : 0;
  // Per domain, one trained layer is a single draw: training seeds alone move a domain's IoU by up to ±0.04
  // (bench/continual/protocol.ts). So the per-domain count uses the mean over every order's own set.
  const caMean = methods.casam?.finishedOrders === plan.orders.length ? methods.casam.finalByTaskMean : null;
  const aboveMean = caMean ? seen.filter((d) => caMean[d] > boxFillByTask[d]).length : 0;
  // The routing rules over every order's set, once all of them are scored.
  const allSetsRules =
    ca?.routing.rules && ca.routing.rules[0].byOrder.length === plan.orders.length ? ca.routing.rules : null;
  const defaultRule = allSetsRules?.find((r) => r.rule === DEFAULT_ROUTING_RULE);
  const caMeanOverBoxFill = caMean ? mean(seen.map((d) => caMean[d])) - bfAvg : NaN;
  const pct2 = (x: number): string => `${(100 * x).toFixed(2)}%`;
  const zsDomains = Object.values(zeroShot);
  const zsFrozen = mean(zsDomains.map((z) => z.frozenIou));
  const zsBoxFill = mean(zsDomains.map((z) => z.boxFillIou));
  const zsAtOrAbove = zsDomains.filter((z) => z.frozenIou >= z.boxFillIou).length;
  const cdS = finished('casamDecoder');
  const cdAbove = cdS
    ? seen.filter((d) => methods.casamDecoder!.finalByTask[d] > boxFillByTask[d]).length
    : 0;
  const mustShow: MustShowCheck[] = [
    check(
      'CA-SAM final Avg-IoU > frozen SAM',
      !!caS,
      () => `${f(caS!.avgIou)} vs ${f(fz.avgIou)}`,
      () => caS!.avgIou > fz.avgIou,
    ),
    check(
      'CA-SAM final Avg-IoU ≥ frozen SAM + 0.10',
      !!caS,
      () => `${caS!.avgIou >= fz.avgIou ? '+' : ''}${f(caS!.avgIou - fz.avgIou)}`,
      () => caS!.avgIou >= fz.avgIou + 0.1,
    ),
    check(
      'CA-SAM final Avg-IoU > sequential fine-tuning',
      !!caS && !!seq,
      () => `${f(caS!.avgIou)} vs ${f(seq!.avgIou)}`,
      () => caS!.avgIou > seq!.avgIou,
    ),
    check(
      'CA-SAM final Avg-IoU > EWC',
      !!caS && !!ewc,
      () => `${f(caS!.avgIou)} vs ${f(ewc!.avgIou)}`,
      () => caS!.avgIou > ewc!.avgIou,
    ),
    check(
      'CA-SAM final Avg-IoU > box-fill',
      !!caS,
      () => `${f(caS!.avgIou)} vs ${f(bfAvg)}`,
      () => caS!.avgIou > bfAvg,
    ),
    check(
      `CA-SAM above box-fill on ≥ 7 of 9 domains (final IoU per domain, mean of the ${plan.orders.length} orders' sets)`,
      !!caMean,
      () => `${aboveMean} of ${seen.length} (the paper order's set alone: ${above} of ${seen.length})`,
      () => aboveMean >= 7,
    ),
    check(
      'CA-SAM average forgetting ≤ 0.01 IoU',
      !!caS,
      () => f(caS!.avgForgetting),
      () => (caS!.avgForgetting ?? Infinity) <= 0.01,
    ),
    check(
      "CA-SAM + decoder adapter above box-fill on ≥ 8 of 9 domains (final IoU per domain, the paper order's set)",
      !!cdS,
      () => `${cdAbove} of ${seen.length} (CA-SAM's paper-order set: ${above} of ${seen.length})`,
      () => cdAbove >= 8,
    ),
    check(
      'CA-SAM + decoder adapter final Avg-IoU ≥ box-fill + 0.08',
      !!cdS,
      () => `${cdS!.avgIou >= bfAvg ? '+' : ''}${f(cdS!.avgIou - bfAvg)}`,
      () => cdS!.avgIou >= bfAvg + 0.08,
    ),
    check(
      'CA-SAM + decoder adapter average forgetting ≤ 0.01 IoU',
      !!cdS,
      () => f(cdS!.avgForgetting),
      () => (cdS!.avgForgetting ?? Infinity) <= 0.01,
    ),
    check(
      'CA-SAM + decoder adapter final Avg-IoU > CA-SAM (paper-order sets, same seeds and epochs)',
      !!cdS && !!caS,
      () => `${f(cdS!.avgIou)} vs ${f(caS!.avgIou)}`,
      () => cdS!.avgIou > caS!.avgIou,
    ),
    check(
      'routing accuracy ≥ 95% on seen test images',
      !!ca,
      () => pct(ca!.routing.routingAccuracy),
      () => ca!.routing.routingAccuracy >= 0.95,
    ),
    check(
      '≥ 90% of unseen-domain images fall back',
      !!ca,
      () => pct(ca!.routing.unseen.fallbackRate),
      () => ca!.routing.unseen.fallbackRate >= 0.9,
    ),
    check(
      'unseen-domain IoU within 0.01 of frozen SAM',
      !!ca,
      () => `${f(ca!.routing.unseen.iou)} vs ${f(ca!.routing.unseen.frozenIou)}`,
      () => Math.abs(ca!.routing.unseen.iou - ca!.routing.unseen.frozenIou) <= 0.01,
    ),
    // Issue 19's thresholds on the new default, over every order's own set (the rows above are the paper's claims).
    check(
      `issue 19: frozen SAM zero-shot ≥ box-fill on average over the ${zsDomains.length} domains and on ≥ 8 of them`,
      true,
      () =>
        `${f(zsFrozen)} vs ${f(zsBoxFill)}, at or above box-fill on ${zsAtOrAbove} of ${zsDomains.length}`,
      () => zsFrozen >= zsBoxFill && zsAtOrAbove >= 8,
    ),
    check(
      `issue 19: CA-SAM above box-fill on ≥ 8 of 9 domains and by ≥ 0.08 on average (mean of the ${plan.orders.length} orders' sets)`,
      !!caMean,
      () => `${aboveMean} of ${seen.length}, ${signed(caMeanOverBoxFill)}`,
      () => aboveMean >= 8 && caMeanOverBoxFill >= 0.08,
    ),
    check(
      "issue 19: CA-SAM + decoder adapter above box-fill on ≥ 8 of 9 domains and by ≥ 0.08 on average (its one set, the paper order's)",
      !!cdS,
      () => `${cdAbove} of ${seen.length}, ${signed(cdS!.avgIou - bfAvg)}`,
      () => cdAbove >= 8 && cdS!.avgIou - bfAvg >= 0.08,
    ),
    check(
      `issue 19: routing accuracy ≥ 97% on seen test images under the default rule (${DEFAULT_ROUTING_RULE}), mean of the orders' sets; every rule side by side`,
      !!defaultRule,
      () =>
        allSetsRules!
          .map(
            (r) =>
              `${r.rule}${r.rule === DEFAULT_ROUTING_RULE ? ' (default)' : ''} ${pct2(r.routingAccuracy)}`,
          )
          .join(', ') +
        ` (the default on the paper order's set alone: ${pct2(defaultRule!.byOrder[0].routingAccuracy)})`,
      () => defaultRule!.routingAccuracy >= 0.97,
    ),
    check(
      "issue 19: ≥ 95% of unseen-domain images fall back under the default rule, mean of the orders' sets",
      !!defaultRule,
      () => pct2(defaultRule!.unseenFallbackRate),
      () => defaultRule!.unseenFallbackRate >= 0.95,
    ),
  ];

  const notes = [
    'Timings are wall-clock on a 2-core machine shared with other work; treat seconds, shares and ratios as ±30% or worse.',
    "CA-SAM's layer, VAE and τ of a task are trained from that task's data only, so the order does not change how they train; each order trains its own set with its own seeds, and its spread across orders is the spread of those seeds (as for the shared-AL baselines, which also train with each order's seeds). The routing and unseen-domain claims use the paper order's set; the other sets' figures are in the routing section.",
    `CA-SAM + decoder adapter: the paper order's CA-SAM tasks trained again (same data, seeds and epochs) with a rank-${decoderUnits[0]?.rank ?? DECODER_ADAPTER.rank} LoRA delta (alpha ${decoderUnits[0]?.alpha ?? DECODER_ADAPTER.alpha}) on the mask decoder's attention projections and hypernetwork MLPs, trained jointly with the Alignment Layer (version 2 adapters); each adapter's own VAE and τ route, the router picks layer and delta together, fallback is frozen SAM. One set, for the paper order only (a set per order would double the training), so its spread across orders and its per-domain mean over orders are the paper order's. Its FLOPs per step are the AL step's (the delta's own small products are not counted); its s/epoch and ms/step are measured.`,
    'The joint reference trains once on all nine tasks pooled (same epochs over 9× the images = the same number of steps as one sequential run); it has a final row only, so forgetting and BWT do not apply.',
    `VAE and τ: ${plan.vae.epochs} epochs of batch ${plan.vae.batchSize} per task and per τ fold (the spec's 10 epochs assume ~1,000 features per task; with ${plan.trainImages} they leave the VAE untrained — see bench/continual/protocol.ts).`,
    `EWC: online EWC (γ = ${plan.ewc.gamma}) with the diagonal empirical Fisher of each task's training loss (one image and its regions per pass), λ = ${plan.ewc.lambda} (the best of a λ sweep on validation images, see bench/continual/protocol.ts).`,
    'FLOPs are analytic (libs/casam-core/src/trainer/training-flops.ts): convolutions and matrix products; backward = 2× forward for the AL, 1× (weight products) or 2× (activation products) for the frozen decoder.',
  ];
  if (inp.model.step !== null)
    notes.unshift(
      `Base model: ${inp.model.path} at pretraining step ${inp.model.step}${inp.model.source ? ` (${inp.model.source})` : ''}.`,
    );
  const enc = state.measurements?.encoderMsPerImage ?? null;
  const probe = state.measurements?.alStepMs ?? null;

  return {
    benchmark: 'continual',
    date: new Date().toISOString(),
    command: inp.command,
    reportOnly: inp.reportOnly,
    quick: plan.quick,
    pending,
    model: { ...inp.model, preset: inp.cfg.name },
    backend: inp.backend,
    machine: inp.machine,
    protocol: {
      ...plan,
      evaluation:
        'one tight box prompt per ground-truth region, single mask, logits > 0 at the original size; IoU per region, mean over regions then images then tasks',
      budget: `${plan.epochs} epochs per task of batch ${plan.batchImages} images × ${plan.regionsPerImage} regions for every trained method`,
    },
    zeroShot,
    boxFill: {
      byTask: boxFillByTask,
      avgIou: bfAvg,
      avgByStage: plan.orders.map((o) =>
        o.map((_, t) => mean(o.slice(0, t + 1).map((d) => boxFillByTask[d]))),
      ),
    },
    methods,
    casam: ca?.routing ?? null,
    decoderAdapter: {
      rank: decoderUnits[0]?.rank ?? DECODER_ADAPTER.rank,
      alpha: decoderUnits[0]?.alpha ?? DECODER_ADAPTER.alpha,
      orders: [0],
      routing: cd?.routing ?? null,
    },
    cost: costs,
    alStep: {
      stepMs: probe,
      trainingStepMs: casamT.stepMs,
      encoderMsPerImage: enc,
      stepOverEncoder: probe !== null && enc ? probe / enc : null,
      batch: { images: plan.batchImages, regions: plan.regionsPerImage },
      flops: inp.stepFlops,
      share: casamT.share,
      secondsPerEpoch: casamT.secondsPerEpoch,
      imagesPerEpoch: plan.trainImages,
      embedSeconds: state.measurements?.embedSeconds ?? null,
      embeddedImages: state.measurements?.embeddedImages ?? null,
    },
    ewc: {
      lambda: plan.ewc.lambda,
      gamma: plan.ewc.gamma,
      fisherMeanByStage: (state.stages['ewc:0'] ?? []).map((s) => s.fisherMean ?? null),
    },
    mustShow,
    notes,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Markdown

const f3 = (x: number | null | undefined): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(3);
const pct = (x: number | null | undefined): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(1)}%`;
const signed = (x: number | null | undefined): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : `${x >= 0 ? '+' : ''}${x.toFixed(3)}`;

function eng(x: number): string {
  if (x === 0) return '0';
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [v, u] of units) if (Math.abs(x) >= v) return `${(x / v).toPrecision(3)} ${u}`;
  return x.toPrecision(3);
}

function mib(bytes: number): string {
  return bytes ? `${(bytes / 2 ** 20).toFixed(0)} MiB` : '–';
}

function table(head: string[], rows: string[][]): string {
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/** The routing rules side by side (same scores, each rule's decisions), with the arm's Avg-IoU in the last column. */
function rulesTable(rules: NonNullable<CasamRouting['rules']>, iouColumn: string): string {
  return table(
    ['rule', 'routing accuracy (seen)', 'fallback (seen)', 'unseen fallback', iouColumn],
    rules.map((x) => [
      x.rule + (x.rule === DEFAULT_ROUTING_RULE ? ' (default)' : ''),
      pct(x.routingAccuracy),
      pct(x.fallbackRateSeen),
      pct(x.unseenFallbackRate),
      f3(x.avgIou),
    ]),
  );
}

function spreadText(s: Spread | null): string {
  return s ? `${f3(s.mean)} ± ${f3(s.std)} (${f3(s.min)} … ${f3(s.max)})` : '–';
}

function present(r: ContinualResults): MethodName[] {
  return METHODS.filter((m) => r.methods[m] !== undefined);
}

export function markdownReport(r: ContinualResults, name: string): string {
  const seen = r.protocol.orders[0];
  const unseen = r.protocol.unseen;
  const out: string[] = [];
  const p = r.protocol;
  const ms = present(r);
  out.push(
    `# Continual-learning benchmark${r.quick ? ' (quick)' : ''}${r.pending.length ? ' — PARTIAL' : ''}`,
  );
  out.push('');
  if (r.pending.length) {
    out.push(
      `**Partial report of an unfinished run** (\`--report-only\`); still to run: ${r.pending.join('; ')}.`,
    );
    out.push('');
  }
  const when = `${r.date.slice(0, 16).replace('T', ' ')} UTC`;
  out.push(
    r.reportOnly
      ? `\`${r.command}\` — report rewritten from its saved state with \`--report-only\` at ${when}; ${r.backend.replace(/^backend: /, '')}, ${r.machine.cpus} × ${r.machine.cpuModel}.`
      : `\`${r.command}\` — ${when}, ${r.backend.replace(/^backend: /, '')}, ${r.machine.cpus} × ${r.machine.cpuModel}, 1-min load ${r.machine.loadAverage1m.toFixed(1)} at the end.`,
  );
  out.push('');
  out.push(
    `Base model \`${r.model.path}\` (${r.model.preset}, ${r.model.fingerprint.slice(0, 23)}…${r.model.step ? `, pretraining step ${r.model.step}` : ''}), frozen. Data: the nine seen synthetic domains (paper order) and three unseen ones, ${p.data.size} px, generator seed ${p.data.seed}; ${p.trainImages} training and ${p.testImages} test images per domain (the generator's own splits). Budget: ${p.budget}. Evaluation: ${p.evaluation}. ${p.orders.length} task orders (the paper's, then seeded shuffles with seed ${p.seed}).`,
  );
  out.push('');

  out.push('## Must show (paper order, except where a claim says otherwise)');
  out.push('');
  out.push(
    table(
      ['claim', 'measured', ''],
      r.mustShow.map((m) => [m.claim, m.value, m.pass === null ? 'pending' : m.pass ? 'yes' : '**no**']),
    ),
  );
  out.push('');

  out.push('## Final results');
  out.push('');
  const methodRows = ms.map((m) => {
    const run = paperRun(r.methods[m]);
    const o = run?.summary;
    const s = r.methods[m]!.spread;
    const partial = run && !run.complete ? ` (after ${run.matrix.length} of ${seen.length} stages)` : '';
    return [
      r.methods[m]!.label,
      f3(o?.avgIou) + partial,
      f3(o?.avgForgetting),
      signed(o?.bwt),
      spreadText(s.avgIou),
      spreadText(s.avgForgetting),
    ];
  });
  methodRows.push([
    'box-fill (reference)',
    f3(r.boxFill.avgIou),
    '–',
    '–',
    `${f3(r.boxFill.avgIou)} (every order)`,
    '–',
  ]);
  out.push(
    table(
      [
        'method',
        'Avg-IoU (paper order)',
        'forgetting',
        'BWT',
        'Avg-IoU over finished orders: mean ± std (min … max)',
        'forgetting over finished orders',
      ],
      methodRows,
    ),
  );
  out.push('');

  out.push('## Final IoU per domain (paper order)');
  out.push('');
  const dRows = ms.map((m) => [
    METHOD_SHORT[m],
    ...seen.map((d) => f3(r.methods[m]!.finalByTask[d])),
    f3(paperRun(r.methods[m])?.summary.avgIou),
  ]);
  if (r.casam)
    dRows.push([
      'CA-SAM, own layer (no routing)',
      ...seen.map((d) => f3(r.casam!.ownLayerIou[d])),
      f3(mean(seen.map((d) => r.casam!.ownLayerIou[d]))),
    ]);
  const cdRouting = r.decoderAdapter?.routing;
  if (cdRouting)
    dRows.push([
      'CA-SAM + decoder, own layer + delta (no routing)',
      ...seen.map((d) => f3(cdRouting.ownLayerIou[d])),
      f3(mean(seen.map((d) => cdRouting.ownLayerIou[d]))),
    ]);
  for (const m of ['casam', 'casamDecoder'] as const) {
    const by = r.methods[m]?.finalByTask;
    if (!by || seen.some((d) => by[d] === undefined)) continue;
    const diff = seen.map((d) => by[d] - r.boxFill.byTask[d]);
    dRows.push([
      `${METHOD_SHORT[m]} − box-fill (above on ${diff.filter((x) => x > 0).length} of ${seen.length})`,
      ...diff.map(signed),
      signed(mean(diff)),
    ]);
  }
  dRows.push(['box-fill (reference)', ...seen.map((d) => f3(r.boxFill.byTask[d])), f3(r.boxFill.avgIou)]);
  out.push(table(['method', ...seen.map(shortDomain), 'mean'], dRows));
  out.push('');

  if (r.protocol.orders.length > 1) {
    out.push(`## Final IoU per domain, mean over the finished orders`);
    out.push('');
    const mRows = ms.flatMap((m) => {
      const x = r.methods[m]!;
      const by = x.finalByTaskMean;
      if (!by) return [];
      return [
        [
          `${METHOD_SHORT[m]} (${x.finishedOrders} of ${r.protocol.orders.length})`,
          ...seen.map((d) => f3(by[d])),
          f3(mean(seen.map((d) => by[d]))),
        ],
      ];
    });
    const bf = r.boxFill.byTask;
    const caMean = r.methods.casam?.finalByTaskMean;
    if (caMean)
      mRows.push([
        'CA-SAM − box-fill',
        ...seen.map((d) => signed(caMean[d] - bf[d])),
        signed(mean(seen.map((d) => caMean[d] - bf[d]))),
      ]);
    mRows.push(['box-fill (reference)', ...seen.map((d) => f3(bf[d])), f3(r.boxFill.avgIou)]);
    out.push(table(['method (orders)', ...seen.map(shortDomain), 'mean'], mRows));
    out.push('');
  }

  out.push('## Zero-shot box-prompt IoU of the base model, all 12 domains');
  out.push('');
  out.push(
    table(
      ['domain', 'frozen SAM IoU', 'Dice', 'box-fill IoU', 'frozen − box-fill', 'test images'],
      [...seen, ...unseen].map((d) => {
        const z = r.zeroShot[d];
        return [
          `${d}${z.unseen ? ' (unseen)' : ''}`,
          f3(z.frozenIou),
          f3(z.frozenDice),
          f3(z.boxFillIou),
          signed(z.frozenIou - z.boxFillIou),
          String(z.images),
        ];
      }),
    ),
  );
  out.push('');

  out.push('## IoU matrices a[t][j] (paper order; row = after stage t, column = task)');
  out.push('');
  for (const m of ms) {
    const o = paperRun(r.methods[m]);
    if (!o) continue;
    out.push(`### ${r.methods[m]!.label}`);
    out.push('');
    const rows = o.matrix.map((row, t) => [
      m === 'joint' ? 'all (pooled)' : `${t + 1} ${shortDomain(o.order[t])}`,
      ...seen.map((_, j) => f3(row[j])),
    ]);
    rows.push(['box-fill', ...seen.map((d) => f3(r.boxFill.byTask[d]))]);
    out.push(table(['stage', ...seen.map(shortDomain)], rows));
    out.push('');
  }
  if (r.protocol.orders.length > 1) {
    out.push('### Every order: final Avg-IoU / forgetting / BWT');
    out.push('');
    const cell = (m: MethodName, k: number): string => {
      const o = r.methods[m]?.orders.find((x) => x.index === k);
      if (!o) return '–';
      const s = o.summary;
      return `${f3(s.avgIou)} / ${f3(s.avgForgetting)} / ${signed(s.bwt)}${o.complete ? '' : ` (${o.matrix.length} stages)`}`;
    };
    const rows = r.protocol.orders.map((order, k) => [
      `${k + 1}${k === 0 ? ' (paper)' : ''}: ${order.map(shortDomain).join(' → ')}`,
      cell('casam', k),
      cell('casamDecoder', k),
      cell('sequential', k),
      cell('ewc', k),
      f3(r.methods.frozen?.orders.find((x) => x.index === k)?.summary.avgIou),
      f3(r.boxFill.avgIou),
    ]);
    out.push(
      table(
        [
          'order',
          'CA-SAM',
          'CA-SAM + decoder (paper order only)',
          'sequential FT',
          'EWC',
          'frozen SAM',
          'box-fill',
        ],
        rows,
      ),
    );
    out.push('');
  }

  if (r.casam) {
    const c = r.casam;
    out.push('## CA-SAM routing');
    out.push('');
    const caPaper = paperRun(r.methods.casam);
    const stageRows = c.routingByOrder[0].stages.map((s) => [
      String(s.stage),
      shortDomain(c.routingByOrder[0].order[s.stage - 1]),
      pct(s.routingAccuracy),
      pct(s.fallbackRateSeen),
      f3(caPaper?.summary.avgIouByStage[s.stage - 1]),
      f3(r.boxFill.avgByStage[0][s.stage - 1]),
    ]);
    out.push(
      table(
        [
          'stage',
          'new task',
          'routing accuracy (seen test images)',
          'fallback (seen)',
          'Avg-IoU',
          'box-fill Avg-IoU',
        ],
        stageRows,
      ),
    );
    out.push('');
    out.push("Unseen domains, routed among all nine tasks by the paper order's set:");
    out.push('');
    const uRows = unseen.map((d) => {
      const u = c.unseen.byDomain[d];
      return [d, String(u.images), pct(u.fallbackRate), f3(u.iou), f3(u.frozenIou), f3(u.boxFillIou)];
    });
    uRows.push([
      'all unseen',
      String(unseen.reduce((s, d) => s + c.unseen.byDomain[d].images, 0)),
      pct(c.unseen.fallbackRate),
      f3(c.unseen.iou),
      f3(c.unseen.frozenIou),
      f3(c.unseen.boxFillIou),
    ]);
    out.push(
      table(['domain', 'images', 'fallback rate', 'CA-SAM IoU', 'frozen SAM IoU', 'box-fill IoU'], uRows),
    );
    out.push('');
    out.push(
      `τ per task, paper order's set (p97 of 5-fold held-out VAE scores): ${seen.map((d) => `${shortDomain(d)} ${c.tau[d].tau.toFixed(4)}`).join(', ')}.`,
    );
    out.push('');
    if (c.rules) {
      out.push(
        "Routing rules on the same scores (after the last stage, mean over the orders' sets; acceptance is always " +
          "the winner's score ≤ its τ): `paper` = argmin raw VAE score, `score-over-tau` = argmin score/τ, " +
          '`z-score` = argmin (score − mean)/std of the held-out scores behind τ.',
      );
      out.push('');
      out.push(rulesTable(c.rules, 'CA-SAM Avg-IoU'));
      out.push('');
    }
    if (c.tauChoices?.length) {
      const spec = c.tauChoices.find((x) => x.threshold === 'p97');
      out.push(
        `Where the threshold sits (${DEFAULT_ROUTING_RULE} rule, mean over ${c.tauChoices[0].sets === 1 ? "the paper order's set" : `the ${c.tauChoices[0].sets} orders' sets`}; each task's p95 and p99 of the same held-out scores are in its adapter beside τ). ` +
          "τ at the held-out p97 leaves about 3% of a task's own images above τ by design, so routing accuracy on seen images " +
          `is at most about 97% less the misroutes${spec ? ` (here ${pct(spec.fallbackRateSeen)} fall back and ${pct(spec.misrouteRateSeen)} go to another task)` : ''}; ` +
          'a higher threshold routes more seen images and lets more unseen ones through:',
      );
      out.push('');
      out.push(
        table(
          ['threshold', 'routing accuracy (seen)', 'fallback (seen)', 'misrouted (seen)', 'unseen fallback'],
          c.tauChoices.map((x) => [
            x.threshold === 'p97' ? 'p97 = τ (spec, used)' : x.threshold,
            pct(x.routingAccuracy),
            pct(x.fallbackRateSeen),
            pct(x.misrouteRateSeen),
            pct(x.unseenFallbackRate),
          ]),
        ),
      );
      out.push('');
    }
    if (c.finalByOrder.length > 1) {
      out.push("Every order's own set after its last stage:");
      out.push('');
      out.push(
        table(
          [
            'order',
            'routing accuracy (seen)',
            'fallback (seen)',
            'unseen fallback',
            'unseen IoU',
            'frozen SAM, unseen',
          ],
          c.finalByOrder.map((x) => [
            `${x.index + 1}${x.index === 0 ? ' (paper)' : ''}`,
            pct(x.routingAccuracy),
            pct(x.fallbackRateSeen),
            pct(x.unseenFallbackRate),
            f3(x.unseenIou),
            f3(c.unseen.frozenIou),
          ]),
        ),
      );
      out.push('');
    }
  }

  const cd = r.decoderAdapter?.routing;
  if (cd) {
    out.push(
      `## CA-SAM + decoder adapter routing (paper order's set; rank ${r.decoderAdapter!.rank}, alpha ${r.decoderAdapter!.alpha})`,
    );
    out.push('');
    const cdPaper = paperRun(r.methods.casamDecoder);
    out.push(
      table(
        [
          'stage',
          'new task',
          'routing accuracy (seen test images)',
          'fallback (seen)',
          'Avg-IoU',
          'box-fill Avg-IoU',
        ],
        cd.routingByOrder[0].stages.map((s) => [
          String(s.stage),
          shortDomain(cd.routingByOrder[0].order[s.stage - 1]),
          pct(s.routingAccuracy),
          pct(s.fallbackRateSeen),
          f3(cdPaper?.summary.avgIouByStage[s.stage - 1]),
          f3(r.boxFill.avgByStage[0][s.stage - 1]),
        ]),
      ),
    );
    out.push('');
    out.push(
      `Unseen domains, routed among all nine tasks: ${pct(cd.unseen.fallbackRate)} fall back; IoU ${f3(cd.unseen.iou)} (frozen SAM ${f3(cd.unseen.frozenIou)}, box-fill ${f3(cd.unseen.boxFillIou)}). ` +
        `τ per task: ${seen.map((d) => `${shortDomain(d)} ${cd.tau[d].tau.toFixed(4)}`).join(', ')}.`,
    );
    out.push('');
    if (cd.rules) {
      out.push(rulesTable(cd.rules, 'CA-SAM + decoder Avg-IoU'));
      out.push('');
    }
  }

  out.push('## Cost');
  out.push('');
  const cRows = METHODS.filter((m) => r.cost[m]).map((m) => {
    const c = r.cost[m]!;
    return [
      METHOD_SHORT[m],
      c.trainableParameters.toLocaleString('en-US') +
        (c.perTask
          ? ` (9 × (${c.perTask.alParameters.toLocaleString('en-US')} AL + ${c.perTask.vaeParameters.toLocaleString('en-US')} VAE${c.perTask.decoderParameters !== undefined ? ` + ${c.perTask.decoderParameters.toLocaleString('en-US')} decoder delta` : ''}))`
          : ''),
      c.flopsPerStep ? `${eng(c.flopsPerStep)}FLOP` : '–',
      c.stepsPerRun ? String(c.stepsPerRun) : '–',
      c.stepsPerRun ? `${eng(c.trainingFlopsPerRun + c.extraFlopsPerRun)}FLOP` : '–',
      c.secondsPerEpoch !== null ? c.secondsPerEpoch.toFixed(1) : '–',
      c.stepMs !== null ? c.stepMs.toFixed(0) : '–',
      c.share
        ? `${pct(c.share.al)} / ${pct(c.share.decoder)} / ${pct(c.share.loss + c.share.data + c.share.optimizer)}`
        : '–',
      c.wallSeconds ? fmtDuration(c.wallSeconds) : '–',
      mib(c.peakRssBytes),
      mib(c.peakTensorBytes),
      f3(paperRun(r.methods[m])?.summary.avgIou),
    ];
  });
  cRows.push([
    'box-fill (reference)',
    '0',
    '–',
    '–',
    '–',
    '–',
    '–',
    '–',
    '–',
    '–',
    '–',
    f3(r.boxFill.avgIou),
  ]);
  out.push(
    table(
      [
        'method',
        'trainable parameters',
        'training FLOPs / step',
        'steps / run',
        'training FLOPs / run',
        's / epoch',
        'ms / step',
        'time in AL fwd+bwd / decoder fwd+bwd / rest',
        'wall time (all orders)',
        'peak RSS',
        'peak tensor memory',
        'final Avg-IoU',
      ],
      cRows,
    ),
  );
  out.push('');
  const a = r.alStep;
  const num = (x: number | null, d: number): string => (x === null ? '–' : x.toFixed(d));
  out.push(
    `One AL training step (batch ${a.batch.images} images × ${a.batch.regions} regions, from the cache) takes ${num(a.stepMs, 0)} ms on this backend and the frozen encoder ${num(a.encoderMsPerImage, 0)} ms for one image (medians, measured one after the other under the same load): a step costs ${num(a.stepOverEncoder, 1)} encoder passes, and re-encoding its ${a.batch.images} images would add ${a.batch.images} more. Over the whole CA-SAM training a step averaged ${num(a.trainingStepMs, 0)} ms. Analytic FLOPs per step: AL forward ${eng(a.flops.alForward)}, AL backward ${eng(a.flops.alBackward)}, decoder forward ${eng(a.flops.decoderForward)}, decoder backward ${eng(a.flops.decoderBackward)} (total ${eng(a.flops.total)}FLOP). CA-SAM seconds per epoch (${a.imagesPerEpoch} images): ${num(a.secondsPerEpoch, 1)}. ${a.embeddedImages ? `Embedding the ${a.embeddedImages} images of the 12 domains took ${fmtDuration(a.embedSeconds ?? 0)} (once, cached for every method and order).` : 'The embeddings came from the cache of an earlier run (the encoder runs once per image, for every method and order).'}`,
  );
  out.push('');
  out.push('## Charts');
  out.push('');
  out.push(`![Avg-IoU per stage](${name}-avg-iou.png)`);
  out.push('');
  out.push(`![cost and IoU](${name}-cost.png)`);
  out.push('');
  for (const m of ms) out.push(`![${METHOD_SHORT[m]} matrix](${name}-matrix-${m}.png)`);
  out.push('');
  out.push('## Notes');
  out.push('');
  for (const n of r.notes) out.push(`- ${n}`);
  out.push('');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Charts and files

export function writeReport(outDir: string, name: string, r: ContinualResults): void {
  const json = JSON.stringify(r, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 1);
  writeFileSync(join(outDir, `${name}.json`), json + '\n');
  writeFileSync(join(outDir, `${name}.md`), markdownReport(r, name));
  const seen = r.protocol.orders[0];
  const ms = present(r);
  for (const m of ms) {
    const o = paperRun(r.methods[m]);
    if (!o) continue;
    const img = heatmapChart({
      title: `${METHOD_SHORT[m]}: IoU after each stage`,
      subtitle: `${r.methods[m]!.label}; paper order; last row box-fill${r.quick ? '; quick run' : ''}${o.complete ? '' : '; unfinished'}`,
      rowLabels: [
        ...o.matrix.map((_, t) => (m === 'joint' ? 'pooled' : `${t + 1} ${shortDomain(o.order[t])}`)),
        'box-fill',
      ],
      colLabels: seen.map(shortDomain),
      values: [
        ...o.matrix.map((row) => seen.map((_, j) => (j < row.length ? row[j] : null))),
        seen.map((d) => r.boxFill.byTask[d]),
      ],
    });
    writeFileSync(join(outDir, `${name}-matrix-${m}.png`), svgToPng(img));
  }
  const stages = seen.map((_, t) => String(t + 1));
  const series = ms.map((m) => {
    const o = paperRun(r.methods[m]);
    const v: (number | null)[] =
      m === 'joint'
        ? [...stages.slice(1).map(() => null), o?.summary.avgIou ?? null]
        : stages.map((_, t) => o?.summary.avgIouByStage[t] ?? null);
    return { name: METHOD_SHORT[m], values: v, dashed: false };
  });
  series.push({ name: 'box-fill', values: r.boxFill.avgByStage[0], dashed: true });
  writeFileSync(
    join(outDir, `${name}-avg-iou.png`),
    svgToPng(
      lineChart({
        title: 'Avg-IoU over the tasks seen so far',
        subtitle: `paper order; joint = pooled reference (final stage only)${r.quick ? '; quick run' : ''}`,
        xTicks: stages,
        xLabel: 'stage (tasks seen)',
        yLabel: 'Avg-IoU',
        series,
      }),
    ),
  );
  const withCost = METHODS.filter((m) => r.cost[m]);
  const cats = [...withCost.map((m) => METHOD_SHORT[m]), 'box-fill'];
  writeFileSync(
    join(outDir, `${name}-cost.png`),
    svgToPng(
      barPanelsChart({
        title: 'Parameters, compute and IoU',
        subtitle:
          'trainable parameters; training TFLOPs behind one final model (analytic); final Avg-IoU (paper order)',
        categories: cats,
        panels: [
          {
            title: 'trainable parameters',
            values: [...withCost.map((m) => r.cost[m]!.trainableParameters), 0],
            format: (v) => eng(v),
          },
          {
            title: 'training TFLOP',
            values: [
              ...withCost.map((m) => (r.cost[m]!.trainingFlopsPerRun + r.cost[m]!.extraFlopsPerRun) / 1e12),
              0,
            ],
            format: (v) => v.toFixed(2),
          },
          {
            title: 'final Avg-IoU',
            values: [
              ...withCost.map((m) => paperRun(r.methods[m])?.summary.avgIou ?? null),
              r.boxFill.avgIou,
            ],
            format: (v) => v.toFixed(3),
          },
        ],
      }),
    ),
  );
}
