/**
 * Export on first use. The fast engine needs ONNX graphs of exactly the weights in use; this module makes them
 * with the project's own exporter the first time they are needed and keeps them in a cache folder:
 *
 *   <cacheRoot>/<preset>-<fingerprint>-x<exporter>/   image encoder + prompt decoder (+ probe.json)
 *   <cacheRoot>/align/<fingerprint>-c<C>-x<exporter>.onnx   one file per Alignment Layer, shared by every bundle
 *   <cacheRoot>/decoder/<base>-<delta>-x<exporter>.onnx   one prompt decoder per task with a decoder delta (LoRA):
 *       the base model's decoder with the delta merged into its weights (W + scale·B·A), keyed by the base
 *       model's fingerprint and the delta's (tensors, rank, alpha)
 *   <cacheRoot>/<preset>-<fingerprint>-x<exporter>.rejected.json   an export whose probe failed (not retried)
 *
 * Before an export is used for the first time it is checked against the TF.js engine on a fixed probe input
 * (embeddings, mask logits and IoU of a box prompt; for an Alignment Layer, its output on a probe embedding).
 * A mismatch refuses the export with `OnnxExportMismatchError`: the caller keeps TF.js, and the rejection is
 * remembered so the next start does not pay for the export and the probe again. A new exporter version makes new
 * folder names, so old exports and old rejections are simply no longer looked at.
 *
 * Exports are written into a temporary folder or file and renamed into place once checked, so a crash or a
 * concurrent process never leaves a half-written export that looks finished.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { LoadedAdapter } from '../casam/routed-segmenter';
import { SamConfig, gridSize } from '../sam/config';
import type { EnginePrompt, SamEngine } from '../sam/engine';
import { tf } from '../sam/tf';
import { HostTensor, StateDict, float32Tensor, toFloat32 } from '../tensor/host-tensor';
import { stateDictFingerprint } from '../weights/fingerprint';
import { writeFileAtomic } from '../io/atomic-file';
import { ALIGN_INPUT_NAME, ALIGN_OUTPUT_NAME, exportAlignmentLayerOnnx } from './export/align-graph';
import {
  ONNX_EXPORTER_VERSION,
  exportSamOnnx,
  isOnnxExportCurrent,
  readOnnxExportManifest,
  type OnnxExportManifest,
} from './export/export-model';
import { exportPromptDecoderOnnx } from './export/decoder-graph';
import { writeOnnxModel } from './export/onnx-builder';
import { ortSessionOptions } from './session-options';
import { mergeDecoderLora, type DecoderLora } from '../casam/decoder-lora';
import {
  OnnxModelError,
  createOnnxSamEngine,
  createOnnxTaskDecoderEngine,
  type OnnxSamEngine,
} from './onnx-sam-engine';

/** The largest difference the probe accepts, relative to the reference output's largest magnitude (at least 1). */
export const DEFAULT_PROBE_TOLERANCE = 1e-3;

const PROBE_FILE = 'probe.json';

/** An exported graph disagrees with the TF.js engine on the probe input; the export is not used. */
export class OnnxExportMismatchError extends OnnxModelError {
  override name = 'OnnxExportMismatchError';
  constructor(
    message: string,
    readonly probe: ProbeReport,
  ) {
    super(message);
  }
}

export interface ProbeComparison {
  name: string;
  maxAbsDiff: number;
  /** Largest magnitude in the reference output. */
  referenceMaxAbs: number;
  /** The allowed difference: tolerance × max(1, referenceMaxAbs). */
  allowed: number;
}

export interface ProbeReport {
  passed: boolean;
  tolerance: number;
  exporterVersion: string;
  comparisons: ProbeComparison[];
  /** Wall time of the probe (both engines). */
  ms: number;
}

export interface OnnxBaseExportOptions {
  /** Folder of the cache (created if needed), e.g. the agent home's `onnx-cache/`. */
  cacheRoot: string;
  config: SamConfig;
  /** stateDictFingerprint of the SAM weights. */
  modelFingerprint: string;
  /** The full SAM weights; only called when an export has to be made. */
  stateDict: () => StateDict;
  /** The TF.js engine of the same weights, the probe's reference; only called when a probe is due. */
  reference: () => SamEngine | Promise<SamEngine>;
  /** See DEFAULT_PROBE_TOLERANCE. */
  tolerance?: number;
  /** Intra-op threads of the probe's ORT sessions. */
  threads?: number;
  /** Progress lines (exporting, probing, results). */
  log?: (line: string) => void;
}

export interface OnnxBaseExport {
  dir: string;
  manifest: OnnxExportManifest;
  encoderPath: string;
  decoderPath: string;
  /** Whether this call made the export (false: found in the cache). */
  exported: boolean;
  /** Wall time of writing the graphs in this call (0 when found in the cache); the probe's is `probe.ms`. */
  exportMs: number;
  probe: ProbeReport;
}

/** The cache folder name of one model's base export. */
export function onnxBaseExportName(config: SamConfig, modelFingerprint: string): string {
  const fp = modelFingerprint.replace(/^sha256:/, '').slice(0, 16);
  return `${config.name.replace(/[^A-Za-z0-9._-]+/g, '_')}-${fp}-x${ONNX_EXPORTER_VERSION}`;
}

function readJson<T>(path: string): T | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return null;
  }
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]);
    if (v > m || Number.isNaN(v)) m = v;
  }
  return m;
}

function compare(name: string, ref: HostTensor, got: HostTensor, tolerance: number): ProbeComparison {
  const r = toFloat32(ref);
  const g = toFloat32(got);
  if (r.length !== g.length || ref.shape.join() !== got.shape.join())
    return { name, maxAbsDiff: Infinity, referenceMaxAbs: maxAbs(r), allowed: 0 };
  let d = 0;
  for (let i = 0; i < r.length; i++) {
    const v = Math.abs(r[i] - g[i]);
    if (!(v <= d)) d = v; // NaN propagates as a failure
  }
  const referenceMaxAbs = maxAbs(r);
  return { name, maxAbsDiff: d, referenceMaxAbs, allowed: tolerance * Math.max(1, referenceMaxAbs) };
}

const passes = (c: ProbeComparison) => c.maxAbsDiff <= c.allowed;

/** The probe's verdict over its comparisons; `t0` is when the probe started. */
function probeReport(comparisons: ProbeComparison[], tolerance: number, t0: number): ProbeReport {
  return {
    passed: comparisons.every(passes),
    tolerance,
    exporterVersion: ONNX_EXPORTER_VERSION,
    comparisons,
    ms: performance.now() - t0,
  };
}

/**
 * The probe's preprocessed image [1,3,S,S]: smooth gradients, a bright disc and a ring, zero padding on the
 * bottom and right like a real non-square image. Deterministic, so every site probes the same input.
 */
export function probeImage(config: SamConfig): HostTensor {
  const s = config.imgSize;
  const h = Math.round(s * 0.75);
  const out = new Float32Array(3 * s * s);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < s; x++) {
        const u = x / s;
        const v = y / s;
        const disc = Math.hypot(u - 0.35, v - 0.35) < 0.15 ? 1.5 : 0;
        const r = Math.hypot(u - 0.7, v - 0.45);
        const ring = r > 0.12 && r < 0.17 ? -1.2 : 0;
        out[(c * s + y) * s + x] = Math.sin(6 * u + c) * Math.cos(4 * v) + disc + ring;
      }
  return float32Tensor([1, 3, s, s], out);
}

function probePrompt(config: SamConfig): EnginePrompt {
  const s = config.imgSize;
  return { box: [0.2 * s, 0.2 * s, 0.5 * s, 0.5 * s] };
}

async function probeBase(
  config: SamConfig,
  encoderPath: string,
  decoderPath: string,
  reference: SamEngine,
  tolerance: number,
  threads: number | undefined,
): Promise<ProbeReport> {
  const t0 = performance.now();
  const onnx = await createOnnxSamEngine({ config, encoderPath, decoderPath, threads });
  try {
    const img = probeImage(config);
    const prompt = probePrompt(config);
    const refEmb = await reference.embed(img);
    const gotEmb = await onnx.embed(img);
    // Both decoders get the reference embedding, so the decoder is judged on its own.
    const refDec = await reference.decode(refEmb, prompt, { multimask: true });
    const gotDec = await onnx.decode(refEmb, prompt, { multimask: true });
    const comparisons = [
      compare('image embeddings', refEmb, gotEmb, tolerance),
      compare('mask logits', refDec.lowResMasks, gotDec.lowResMasks, tolerance),
      compare('IoU predictions', refDec.iouPredictions, gotDec.iouPredictions, tolerance),
    ];
    return probeReport(comparisons, tolerance, t0);
  } finally {
    onnx.dispose();
  }
}

function describeFailure(what: string, probe: ProbeReport): string {
  const bad = probe.comparisons
    .filter((c) => !passes(c))
    .map(
      (c) => `${c.name} differ by ${c.maxAbsDiff.toExponential(2)} (allowed ${c.allowed.toExponential(2)})`,
    );
  return `the ONNX export of ${what} disagrees with the TF.js engine on the probe input: ${bad.join('; ')}`;
}

/**
 * The image encoder and prompt decoder of these weights as ONNX graphs: from the cache when a checked export
 * is there, otherwise exported, probed against `reference` and cached. Throws `OnnxExportMismatchError` when the
 * export (now or on an earlier start) failed its probe.
 */
export async function ensureOnnxBaseExport(opts: OnnxBaseExportOptions): Promise<OnnxBaseExport> {
  const { cacheRoot, config, modelFingerprint } = opts;
  const log = opts.log ?? (() => undefined);
  const tolerance = opts.tolerance ?? DEFAULT_PROBE_TOLERANCE;
  const name = onnxBaseExportName(config, modelFingerprint);
  const dir = join(cacheRoot, name);
  const rejectedPath = join(cacheRoot, `${name}.rejected.json`);
  const found = (exported: boolean, probe: ProbeReport, exportMs = 0): OnnxBaseExport => {
    const manifest = readOnnxExportManifest(dir);
    if (!manifest) throw new OnnxModelError(`${dir} lost its ONNX export manifest while it was being opened`);
    return {
      dir,
      manifest,
      encoderPath: join(dir, manifest.encoder.file),
      decoderPath: join(dir, manifest.decoder.file),
      exported,
      exportMs,
      probe,
    };
  };

  const rejected = readJson<ProbeReport>(rejectedPath);
  if (rejected && !rejected.passed)
    throw new OnnxExportMismatchError(
      `${describeFailure(`preset ${config.name}`, rejected)} (found ${rejectedPath}; delete it to try again)`,
      rejected,
    );
  const cachedProbe = readJson<ProbeReport>(join(dir, PROBE_FILE));
  if (cachedProbe?.passed && isOnnxExportCurrent(dir, config, modelFingerprint))
    return found(false, cachedProbe);

  mkdirSync(cacheRoot, { recursive: true });
  const tmp = join(cacheRoot, `${name}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    log(`exporting ${config.name} to ONNX (first use of these weights) into ${dir}`);
    const t0 = performance.now();
    const manifest = exportSamOnnx(tmp, config, opts.stateDict(), { modelFingerprint });
    const exportMs = performance.now() - t0;
    const bytes = manifest.encoder.bytes + manifest.decoder.bytes;
    log(
      `exported in ${(exportMs / 1000).toFixed(1)} s (${(bytes / 2 ** 20).toFixed(1)} MiB); probing against TF.js`,
    );
    const reference = await opts.reference();
    const probe = await probeBase(
      config,
      join(tmp, manifest.encoder.file),
      join(tmp, manifest.decoder.file),
      reference,
      tolerance,
      opts.threads,
    );
    log(
      `probe ${probe.passed ? 'passed' : 'FAILED'} in ${(probe.ms / 1000).toFixed(1)} s: ` +
        probe.comparisons.map((c) => `${c.name} ${c.maxAbsDiff.toExponential(1)}`).join(', '),
    );
    if (!probe.passed) {
      writeFileAtomic(rejectedPath, JSON.stringify(probe, null, 2) + '\n');
      throw new OnnxExportMismatchError(describeFailure(`preset ${config.name}`, probe), probe);
    }
    writeFileAtomic(join(tmp, PROBE_FILE), JSON.stringify(probe, null, 2) + '\n');
    rmSync(dir, { recursive: true, force: true });
    try {
      renameSync(tmp, dir);
    } catch (e) {
      // Another process finished the same export first: use theirs.
      if (!isOnnxExportCurrent(dir, config, modelFingerprint)) throw e;
    }
    return found(true, probe, exportMs);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function probeAlignment(
  adapter: LoadedAdapter,
  path: string,
  grid: number,
  tolerance: number,
  threads: number | undefined,
): Promise<ProbeReport> {
  const t0 = performance.now();
  const c = adapter.align.channels;
  const n = c * grid * grid;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = Math.sin(0.37 * i) + 0.5 * Math.cos(0.011 * i);
  const xt = tf.tensor4d(x, [1, c, grid, grid]);
  const yt = adapter.align.forward(xt);
  const ref = float32Tensor([1, c, grid, grid], new Float32Array(yt.dataSync() as Float32Array));
  tf.dispose([xt, yt]);
  const session = await ort.InferenceSession.create(path, ortSessionOptions({ threads }));
  try {
    const out = await session.run({ [ALIGN_INPUT_NAME]: new ort.Tensor('float32', x, [1, c, grid, grid]) });
    const y = out[ALIGN_OUTPUT_NAME] as ort.Tensor;
    const got = float32Tensor([...y.dims], new Float32Array(y.data as Float32Array));
    const comparisons = [compare('aligned embeddings', ref, got, tolerance)];
    return probeReport(comparisons, tolerance, t0);
  } finally {
    await session.release();
  }
}

/**
 * Each adapter's Alignment Layer as an ONNX file, keyed by the layer's weights (so a bundle update re-exports
 * only the layers that changed): taskId → path. Exported and probed on first use like the base export.
 */
export async function ensureOnnxAlignmentLayers(
  cacheRoot: string,
  config: SamConfig,
  adapters: readonly LoadedAdapter[],
  opts: { tolerance?: number; threads?: number; log?: (line: string) => void } = {},
): Promise<Map<string, string>> {
  const tolerance = opts.tolerance ?? DEFAULT_PROBE_TOLERANCE;
  const dir = join(cacheRoot, 'align');
  mkdirSync(dir, { recursive: true });
  const files = new Map<string, string>();
  for (const a of adapters) {
    const sd = a.align.stateDict();
    const fp = stateDictFingerprint(sd)
      .replace(/^sha256:/, '')
      .slice(0, 24);
    const path = join(dir, `${fp}-c${a.align.channels}-x${ONNX_EXPORTER_VERSION}.onnx`);
    if (!existsSync(path)) {
      const tmp = `${path}.tmp-${process.pid}`;
      try {
        writeOnnxModel(
          tmp,
          exportAlignmentLayerOnnx(sd, {
            channels: a.align.channels,
            producerVersion: ONNX_EXPORTER_VERSION,
            metadata: { taskId: a.taskId, exporterVersion: ONNX_EXPORTER_VERSION },
          }),
        );
        const probe = await probeAlignment(a, tmp, gridSize(config), tolerance, opts.threads);
        if (!probe.passed)
          throw new OnnxExportMismatchError(
            describeFailure(`task ${a.taskId}'s Alignment Layer`, probe),
            probe,
          );
        renameSync(tmp, path);
        opts.log?.(
          `exported task ${a.taskId}'s Alignment Layer to ONNX (probe ${probe.comparisons[0].maxAbsDiff.toExponential(1)})`,
        );
      } finally {
        rmSync(tmp, { force: true });
      }
    }
    files.set(a.taskId, path);
  }
  return files;
}

/** The cache key of a decoder delta: its tensors, rank and alpha (the layers are in the tensors' names). */
export function decoderLoraFingerprint(lora: DecoderLora): string {
  const h = createHash('sha256');
  h.update(stateDictFingerprint(lora.stateDict()));
  h.update(JSON.stringify({ rank: lora.rank, alpha: lora.alpha, layers: lora.layers }));
  return 'sha256:' + h.digest('hex');
}

/** A fixed embedding [1,C,g,g] for probing decoders (deterministic, of the scale of real embeddings). */
function probeEmbedding(config: SamConfig): HostTensor {
  const g = gridSize(config);
  const c = config.promptEmbedDim;
  const x = new Float32Array(c * g * g);
  for (let i = 0; i < x.length; i++) x[i] = 0.5 * Math.sin(0.37 * i) + 0.25 * Math.cos(0.011 * i);
  return float32Tensor([1, c, g, g], x);
}

async function probeTaskDecoder(
  config: SamConfig,
  lora: DecoderLora,
  path: string,
  base: OnnxSamEngine,
  reference: SamEngine,
  tolerance: number,
  threads: number | undefined,
): Promise<ProbeReport> {
  const t0 = performance.now();
  const onnx = await createOnnxTaskDecoderEngine({ base, decoderPath: path, threads });
  try {
    const emb = probeEmbedding(config);
    const prompt = probePrompt(config);
    const ref = await reference.decode(emb, prompt, { multimask: true, decoderDelta: lora });
    const got = await onnx.decode(emb, prompt, { multimask: true });
    const comparisons = [
      compare('mask logits', ref.lowResMasks, got.lowResMasks, tolerance),
      compare('IoU predictions', ref.iouPredictions, got.iouPredictions, tolerance),
    ];
    return probeReport(comparisons, tolerance, t0);
  } finally {
    onnx.dispose();
  }
}

export interface OnnxTaskDecoderOptions {
  /** stateDictFingerprint of the base SAM weights (part of each file's key). */
  modelFingerprint: string;
  /** The base SAM weights (prompt encoder and mask decoder are read); only called when an export has to be made. */
  stateDict: () => StateDict;
  /** The base model's ORT engine: the probe opens each new graph beside it. */
  engine: OnnxSamEngine;
  /** The TF.js engine of the same weights, the probe's reference (decodes with the delta); called only to probe. */
  reference: () => SamEngine | Promise<SamEngine>;
  tolerance?: number;
  threads?: number;
  log?: (line: string) => void;
}

/**
 * For every adapter with a decoder delta (LoRA, adapter version 2): its own prompt decoder as an ONNX file, the
 * base model's decoder with the delta merged into the weights (`mergeDecoderLora`), so the task decodes on
 * ONNX Runtime exactly as TF.js decodes with the delta. Cached by base fingerprint + delta fingerprint + exporter
 * version (a bundle update re-exports only the deltas that changed); each new file is probed against the TF.js
 * engine with the delta before first use, and a mismatch throws `OnnxExportMismatchError`. taskId → path;
 * adapters without a delta are not in the map.
 */
export async function ensureOnnxTaskDecoders(
  cacheRoot: string,
  config: SamConfig,
  adapters: readonly LoadedAdapter[],
  opts: OnnxTaskDecoderOptions,
): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const withDelta = adapters.filter((a) => a.decoderLora);
  if (!withDelta.length) return files;
  const tolerance = opts.tolerance ?? DEFAULT_PROBE_TOLERANCE;
  const dir = join(cacheRoot, 'decoder');
  mkdirSync(dir, { recursive: true });
  const base = opts.modelFingerprint.replace(/^sha256:/, '').slice(0, 16);
  let sd: StateDict | undefined;
  for (const a of withDelta) {
    const lora = a.decoderLora!;
    const fp = decoderLoraFingerprint(lora)
      .replace(/^sha256:/, '')
      .slice(0, 24);
    const path = join(dir, `${base}-${fp}-x${ONNX_EXPORTER_VERSION}.onnx`);
    if (!existsSync(path)) {
      const tmp = `${path}.tmp-${process.pid}`;
      try {
        const t0 = performance.now();
        sd ??= opts.stateDict();
        writeOnnxModel(
          tmp,
          exportPromptDecoderOnnx(config, mergeDecoderLora(sd, lora), {
            producerVersion: ONNX_EXPORTER_VERSION,
            metadata: {
              taskId: a.taskId,
              exporterVersion: ONNX_EXPORTER_VERSION,
              modelFingerprint: opts.modelFingerprint,
              decoderLoraFingerprint: decoderLoraFingerprint(lora),
            },
          }),
        );
        const exportMs = performance.now() - t0;
        const reference = await opts.reference();
        const probe = await probeTaskDecoder(
          config,
          lora,
          tmp,
          opts.engine,
          reference,
          tolerance,
          opts.threads,
        );
        if (!probe.passed)
          throw new OnnxExportMismatchError(describeFailure(`task ${a.taskId}'s decoder`, probe), probe);
        renameSync(tmp, path);
        opts.log?.(
          `exported task ${a.taskId}'s decoder (delta merged) to ONNX in ${(exportMs / 1000).toFixed(1)} s ` +
            `(probe: ${probe.comparisons.map((c) => `${c.name} ${c.maxAbsDiff.toExponential(1)}`).join(', ')})`,
        );
      } finally {
        rmSync(tmp, { force: true });
      }
    }
    files.set(a.taskId, path);
  }
  return files;
}
