/**
 * SamEngine on ONNX Runtime (onnxruntime-node, CPU execution provider).
 *
 * Two exports are expected:
 * - the image encoder: `torch.onnx.export(sam.image_encoder, ...)`, input `image` [1,3,S,S] (already preprocessed:
 *   normalised and zero-padded), output `image_embeddings` [1,C,g,g];
 * - the prompt encoder + mask decoder in the official `SamOnnxModel` format (`scripts/export_onnx_model.py`,
 *   `return_single_mask=False`): inputs `image_embeddings`, `point_coords` [1,N,2], `point_labels` [1,N],
 *   `mask_input` [1,1,4g,4g], `has_mask_input` [1], `orig_im_size` [2]; outputs `masks`, `iou_predictions` [1,4]
 *   and `low_res_masks` [1,4,4g,4g] (all four mask tokens: 0 = single-mask output, 1..3 = multimask outputs).
 */
import { readFileSync, statSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { HostTensor, float32Tensor, numel, shapeEquals, toFloat32 } from '../tensor/host-tensor';
import { SamConfig, gridSize, maskInputSize } from '../sam/config';
import { EngineDecodeOptions, EngineDecodeResult, EnginePrompt, SamEngine } from '../sam/engine';
import { pruneOnnxOutputs } from './prune-graph';
import { ortSessionOptions, smallGraphThreads } from './session-options';

export interface OnnxSamEngineOptions {
  config: SamConfig;
  /** Path of the image-encoder export (input `image`, output `image_embeddings`). */
  encoderPath: string;
  /** Path of the `SamOnnxModel` decoder export. */
  decoderPath: string;
  /** Intra-op threads of each session (positive integer). Default: ONNX Runtime's own choice (all physical cores). */
  threads?: number;
  /** Let the sessions' threads spin between runs (ONNX Runtime's default; off here, see session-options.ts). */
  spinning?: boolean;
  /** Intra-op threads of the decoder. Default: 1 for the small presets, else `threads` (smallGraphThreads). */
  decoderThreads?: number;
}

/** The `SamOnnxModel` inputs, fed as they are (no prompt mapping). All float32. */
export interface OnnxDecoderRawInputs {
  /** [1,C,g,g] */
  imageEmbeddings: HostTensor;
  /** [1,N,2] (x, y) in the model's input frame. */
  pointCoords: HostTensor;
  /** [1,N]: 1 pos, 0 neg, −1 padding point, 2/3 box corners. */
  pointLabels: HostTensor;
  /** [1,1,4g,4g] low-res mask logits. */
  maskInput: HostTensor;
  /** [1]: 1 = use maskInput, 0 = ignore it. */
  hasMaskInput: HostTensor;
  /** [2] (h, w) of the original image; `masks` is upscaled to it. */
  origImSize: HostTensor;
}

/** The `SamOnnxModel` outputs, all mask tokens. */
export interface OnnxDecoderRawOutputs {
  /** [1,T,h,w] upscaled mask logits (T = numMultimaskOutputs + 1). */
  masks: HostTensor;
  /** [1,T] */
  iouPredictions: HostTensor;
  /** [1,T,4g,4g] */
  lowResMasks: HostTensor;
}

export interface OnnxSamEngine extends SamEngine {
  readonly kind: 'onnx';
  /** Runs the decoder export on exactly these inputs and returns its three outputs (all tokens). */
  runDecoderRaw(inputs: OnnxDecoderRawInputs): Promise<OnnxDecoderRawOutputs>;
}

/** A problem with an ONNX model file or with how it matches the configured preset. */
export class OnnxModelError extends Error {
  override name = 'OnnxModelError';
}

const ENCODER_INPUT = 'image';
const ENCODER_OUTPUT = 'image_embeddings';
type DecoderInputName =
  'image_embeddings' | 'point_coords' | 'point_labels' | 'mask_input' | 'has_mask_input' | 'orig_im_size';
const DECODER_OUTPUTS = ['masks', 'iou_predictions', 'low_res_masks'] as const;

/** An expected dimension: a number must match a static dim exactly; `null` accepts anything (dynamic axis). */
type ExpectedDim = number | null;

type Role = 'encoder' | 'decoder';

export async function createOnnxSamEngine(opts: OnnxSamEngineOptions): Promise<OnnxSamEngine> {
  const { config, threads, spinning } = opts;
  const encoder = await openSession('encoder', opts.encoderPath, ortSessionOptions({ threads, spinning }));
  let decoder: DecoderGraphs | undefined;
  try {
    validateEncoder(encoder, opts.encoderPath, config);
    const decoderThreads = opts.decoderThreads ?? smallGraphThreads(config, threads);
    decoder = await openDecoder(
      opts.decoderPath,
      ortSessionOptions({ threads: decoderThreads, spinning }),
      config,
    );
  } catch (e) {
    await Promise.allSettled([encoder.release(), decoder?.release()]);
    throw e;
  }
  return new OrtSamEngine(config, encoder, decoder);
}

export interface OnnxTaskDecoderEngineOptions {
  /** The base model's engine: `embed` goes there (its own decoder is not used). Borrowed, never disposed here. */
  base: OnnxSamEngine;
  /** A `SamOnnxModel` decoder export of the same preset, e.g. one with a task's decoder delta merged in. */
  decoderPath: string;
  threads?: number;
  spinning?: boolean;
  /** Intra-op threads of the decoder. Default: 1 for the small presets, else `threads` (smallGraphThreads). */
  decoderThreads?: number;
}

/**
 * An engine that embeds with `base` and decodes with another decoder graph: a task's own decoder (frozen weights
 * with its LoRA delta merged, see `ensureOnnxTaskDecoders`). dispose() releases only the decoder session.
 */
export async function createOnnxTaskDecoderEngine(
  opts: OnnxTaskDecoderEngineOptions,
): Promise<OnnxSamEngine> {
  const { base, threads, spinning } = opts;
  const decoderThreads = opts.decoderThreads ?? smallGraphThreads(base.config, threads);
  const decoder = await openDecoder(
    opts.decoderPath,
    ortSessionOptions({ threads: decoderThreads, spinning }),
    base.config,
  );
  return new OrtSamEngine(base.config, null, decoder, base);
}

/**
 * A decoder file's sessions. `fast` answers decode(), which fetches `iou_predictions` and `low_res_masks` only:
 * where the file allows (this project's exports), it is the graph cut to those two outputs (prune-graph.ts: the
 * full-size `masks` upscaling is half of a small preset's decoder time, and ONNX Runtime runs it whether it is
 * fetched or not). `full()` is the file as it is, for runDecoderRaw; when `fast` was cut, it is opened on first
 * use (parity checks and benchmarks call it, serving never does).
 */
interface DecoderGraphs {
  fast: ort.InferenceSession;
  full(): Promise<ort.InferenceSession>;
  release(): Promise<void>;
}

const FAST_DECODER_OUTPUTS = ['iou_predictions', 'low_res_masks'];

async function openDecoder(
  path: string,
  options: ort.InferenceSession.SessionOptions,
  cfg: SamConfig,
): Promise<DecoderGraphs> {
  checkModelFile('decoder', path);
  let cut: Uint8Array | null = null;
  try {
    cut = pruneOnnxOutputs(new Uint8Array(readFileSync(path)), FAST_DECODER_OUTPUTS, ['masks']);
  } catch (e) {
    throw new OnnxModelError(`cannot read ONNX decoder model ${path}: ${(e as Error).message}`);
  }
  const openFull = async (): Promise<ort.InferenceSession> => {
    const s = await openSession('decoder', path, options);
    try {
      validateDecoder(s, path, cfg);
    } catch (e) {
      await s.release().catch(() => undefined);
      throw e;
    }
    return s;
  };
  if (!cut) {
    const s = await openFull();
    return { fast: s, full: () => Promise.resolve(s), release: () => s.release() };
  }
  const fast = await createSession('decoder', path, cut, options);
  try {
    validateDecoder(fast, path, cfg, 'cut');
  } catch (e) {
    await fast.release().catch(() => undefined);
    throw e;
  }
  let full: Promise<ort.InferenceSession> | undefined;
  return {
    fast,
    full: () => (full ??= openFull()),
    release: async () => {
      await Promise.allSettled([fast.release(), full?.then((s) => s.release())]);
    },
  };
}

async function openSession(
  role: Role,
  path: string,
  options: ort.InferenceSession.SessionOptions,
): Promise<ort.InferenceSession> {
  checkModelFile(role, path);
  return createSession(role, path, path, options);
}

/** Refuses a path that is not a readable, non-empty file, with the reason in words. */
function checkModelFile(role: Role, path: string): void {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new OnnxModelError(`ONNX ${role} model ${path} is not a file`);
    size = st.size;
  } catch (e) {
    if (e instanceof OnnxModelError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new OnnxModelError(`ONNX ${role} model not found: ${path}`);
    throw new OnnxModelError(`cannot read ONNX ${role} model ${path}: ${(e as Error).message}`);
  }
  if (size === 0) throw new OnnxModelError(`ONNX ${role} model ${path} is empty (0 bytes)`);
}

/** A session on `model` (the file at `path`, or bytes made from it); load errors name the file. */
async function createSession(
  role: Role,
  path: string,
  model: string | Uint8Array,
  options: ort.InferenceSession.SessionOptions,
): Promise<ort.InferenceSession> {
  try {
    // Two calls: each argument type is its own overload of create().
    return typeof model === 'string'
      ? await ort.InferenceSession.create(model, options)
      : await ort.InferenceSession.create(model, options);
  } catch (e) {
    const msg = (e as Error).message;
    const hint = /protobuf/i.test(msg) ? ' (the file is not a valid ONNX model: corrupt or truncated?)' : '';
    throw new OnnxModelError(`failed to load ONNX ${role} model ${path}${hint}: ${msg}`);
  }
}

function fmtShape(shape: readonly (number | string | null)[]): string {
  return `[${shape.map((d) => (d === null ? '?' : typeof d === 'string' ? `"${d}"` : d)).join(',')}]`;
}

/**
 * Checks that the named values exist with float32 type and that every static dim matches `expected` (symbolic dims
 * are accepted: they are checked on the actual tensors at run time).
 */
function checkValues(
  role: Role,
  path: string,
  kind: 'input' | 'output',
  metas: readonly ort.InferenceSession.ValueMetadata[],
  expected: Record<string, ExpectedDim[]>,
  exact: boolean,
  presetName: string,
): void {
  const names = metas.map((m) => m.name);
  const wanted = Object.keys(expected);
  const missing = wanted.filter((n) => !names.includes(n));
  const extra = names.filter((n) => !wanted.includes(n));
  if (missing.length > 0 || (exact && extra.length > 0)) {
    const what = role === 'encoder' ? 'a SAM image-encoder export' : 'a SAM decoder (SamOnnxModel) export';
    throw new OnnxModelError(
      `ONNX ${role} model ${path} is not ${what}: its ${kind}s are [${names.join(', ')}], expected [${wanted.join(', ')}]` +
        (missing.length > 0 ? ` (missing: ${missing.join(', ')})` : '') +
        (exact && extra.length > 0 ? ` (unexpected: ${extra.join(', ')})` : ''),
    );
  }
  for (const name of wanted) {
    const meta = metas.find((m) => m.name === name) as ort.InferenceSession.ValueMetadata;
    if (!meta.isTensor)
      throw new OnnxModelError(`ONNX ${role} model ${path}: ${kind} "${name}" is not a tensor`);
    if (meta.type !== 'float32')
      throw new OnnxModelError(
        `ONNX ${role} model ${path}: ${kind} "${name}" has type ${meta.type}, expected float32`,
      );
    const want = expected[name];
    const got = meta.shape;
    // An empty shape means "unknown" to ORT; a known shape must have the right rank and matching static dims.
    if (got.length === 0) continue;
    const ok =
      got.length === want.length &&
      got.every((d, i) => typeof d === 'string' || want[i] === null || d === want[i]);
    if (!ok)
      throw new OnnxModelError(
        `ONNX ${role} model ${path}: ${kind} "${name}" has shape ${fmtShape(got)} but preset "${presetName}" expects ` +
          `${fmtShape(want)}`,
      );
  }
}

function validateEncoder(session: ort.InferenceSession, path: string, cfg: SamConfig): void {
  const s = cfg.imgSize;
  const g = gridSize(cfg);
  checkValues(
    'encoder',
    path,
    'input',
    session.inputMetadata,
    { [ENCODER_INPUT]: [1, cfg.inChans, s, s] },
    true,
    cfg.name,
  );
  checkValues(
    'encoder',
    path,
    'output',
    session.outputMetadata,
    { [ENCODER_OUTPUT]: [1, cfg.outChans, g, g] },
    false,
    cfg.name,
  );
}

/** `cut`: the graph cut to decode()'s two outputs, which no longer reads `orig_im_size` (openDecoder). */
function validateDecoder(
  session: ort.InferenceSession,
  path: string,
  cfg: SamConfig,
  graph: 'file' | 'cut' = 'file',
): void {
  const g = gridSize(cfg);
  const m = maskInputSize(cfg);
  const t = cfg.numMultimaskOutputs + 1;
  const inputs: Partial<Record<DecoderInputName, ExpectedDim[]>> = {
    image_embeddings: [1, cfg.promptEmbedDim, g, g],
    point_coords: [1, null, 2],
    point_labels: [1, null],
    mask_input: [1, 1, m, m],
    has_mask_input: [1],
    orig_im_size: [2],
  };
  const outputs: Partial<Record<(typeof DECODER_OUTPUTS)[number], ExpectedDim[]>> = {
    masks: [1, t, null, null],
    iou_predictions: [1, t],
    low_res_masks: [1, t, m, m],
  };
  if (graph === 'cut') {
    delete inputs.orig_im_size;
    delete outputs.masks;
  }
  checkValues(
    'decoder',
    path,
    'input',
    session.inputMetadata,
    inputs as Record<string, ExpectedDim[]>,
    graph === 'file',
    cfg.name,
  );
  checkValues(
    'decoder',
    path,
    'output',
    session.outputMetadata,
    outputs as Record<string, ExpectedDim[]>,
    false,
    cfg.name,
  );
}

function toOrt(t: HostTensor, label: string): ort.Tensor {
  let data: Float32Array;
  try {
    data = toFloat32(t);
  } catch {
    throw new TypeError(`${label}: expected a floating-point tensor, got ${t.dtype}`);
  }
  if (data.length !== numel(t.shape))
    throw new RangeError(
      `${label}: shape ${fmtShape(t.shape)} needs ${numel(t.shape)} values, got ${data.length}`,
    );
  return new ort.Tensor('float32', data, t.shape);
}

/** `copy` false: the result views ORT's output buffer (for a caller that copies what it keeps). */
function fromOrt(
  v: ort.OnnxValue | undefined,
  name: string,
  expected: ExpectedDim[],
  copy = true,
): HostTensor {
  if (!v || !(v instanceof ort.Tensor)) throw new OnnxModelError(`ONNX model returned no tensor "${name}"`);
  if (v.type !== 'float32')
    throw new OnnxModelError(`ONNX output "${name}" has type ${v.type}, expected float32`);
  const dims = [...v.dims];
  if (dims.length !== expected.length || dims.some((d, i) => expected[i] !== null && d !== expected[i]))
    throw new OnnxModelError(
      `ONNX output "${name}" has shape ${fmtShape(dims)}, expected ${fmtShape(expected)}`,
    );
  // Copy so the result owns its memory independently of ORT.
  return float32Tensor(dims, copy ? new Float32Array(v.data as Float32Array) : (v.data as Float32Array));
}

function expectShape(t: HostTensor, want: number[], label: string): void {
  if (!shapeEquals(t.shape, want))
    throw new RangeError(`${label}: shape ${fmtShape(t.shape)}, expected ${fmtShape(want)}`);
}

/** Maps an EnginePrompt to the `SamOnnxModel` inputs the way the official predictor / ONNX notebook does. */
export function promptToDecoderInputs(
  cfg: SamConfig,
  embeddings: HostTensor,
  prompt: EnginePrompt,
): OnnxDecoderRawInputs {
  const m = maskInputSize(cfg);
  const pts = prompt.pointCoords ?? [];
  const labels = prompt.pointLabels ?? [];
  if (pts.length !== labels.length)
    throw new RangeError(`prompt has ${pts.length} points but ${labels.length} labels`);
  for (const l of labels)
    if (l !== 0 && l !== 1 && l !== -1)
      throw new RangeError(`point label ${l} is not 1 (positive), 0 (negative) or -1`);
  const coords: number[] = [];
  const labs: number[] = [];
  pts.forEach(([x, y], i) => {
    if (!Number.isFinite(x) || !Number.isFinite(y))
      throw new RangeError(`point ${i} (${x}, ${y}) is not finite`);
    coords.push(x, y);
    labs.push(labels[i]);
  });
  if (prompt.box) {
    const [x0, y0, x1, y1] = prompt.box;
    if (![x0, y0, x1, y1].every(Number.isFinite)) throw new RangeError(`box [${prompt.box}] is not finite`);
    coords.push(x0, y0, x1, y1);
    labs.push(2, 3);
  } else if (pts.length > 0) {
    // PromptEncoder pads points-without-box with (0,0)/−1; the ONNX wrapper leaves that to the caller.
    coords.push(0, 0);
    labs.push(-1);
  }
  // No points and no box: N = 0, which (like PromptEncoder with points=None, boxes=None) gives no sparse tokens.
  const n = labs.length;
  let maskInput: HostTensor;
  let hasMask: number;
  if (prompt.maskInput) {
    expectShape(prompt.maskInput, [1, 1, m, m], 'prompt.maskInput');
    maskInput = prompt.maskInput;
    hasMask = 1;
  } else {
    maskInput = float32Tensor([1, 1, m, m]);
    hasMask = 0;
  }
  return {
    imageEmbeddings: embeddings,
    pointCoords: float32Tensor([1, n, 2], Float32Array.from(coords)),
    pointLabels: float32Tensor([1, n], Float32Array.from(labs)),
    maskInput,
    hasMaskInput: float32Tensor([1], Float32Array.of(hasMask)),
    // The upscaled `masks` output is not fetched by decode(); (S,S) keeps the wrapper's crop/resize trivial.
    origImSize: float32Tensor([2], Float32Array.of(cfg.imgSize, cfg.imgSize)),
  };
}

class OrtSamEngine implements OnnxSamEngine {
  readonly kind = 'onnx' as const;
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(
    readonly config: SamConfig,
    /** null: `embedWith` embeds (a task decoder engine). */
    private readonly encoder: ort.InferenceSession | null,
    private readonly decoder: DecoderGraphs,
    private readonly embedWith?: SamEngine,
  ) {}

  /** Runs `fn` after every earlier call has settled, so the sessions never run concurrently. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(new Error('OnnxSamEngine has been disposed'));
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  async embed(preprocessed: HostTensor): Promise<HostTensor> {
    const s = this.config.imgSize;
    const g = gridSize(this.config);
    expectShape(preprocessed, [1, this.config.inChans, s, s], 'embed: preprocessed image');
    const encoder = this.encoder;
    if (!encoder) {
      if (this.disposed) throw new Error('OnnxSamEngine has been disposed');
      return this.embedWith!.embed(preprocessed);
    }
    const image = toOrt(preprocessed, 'embed: preprocessed image');
    return this.serial(async () => {
      const out = await encoder.run({ [ENCODER_INPUT]: image }, [ENCODER_OUTPUT]);
      return fromOrt(out[ENCODER_OUTPUT], ENCODER_OUTPUT, [1, this.config.outChans, g, g]);
    });
  }

  async decode(
    embeddings: HostTensor,
    prompt: EnginePrompt,
    opts: EngineDecodeOptions,
  ): Promise<EngineDecodeResult> {
    if (opts.decoderDelta)
      throw new OnnxModelError(
        'the ONNX Runtime engine cannot apply a decoder delta (LoRA) per call: its decoder graph is fixed; ' +
          'decode this task with its own decoder export (ensureOnnxTaskDecoders, createOnnxTaskDecoderEngine)',
      );
    const inputs = promptToDecoderInputs(this.config, embeddings, prompt);
    // Not copied out of ORT's buffers: the slices below are the copies the result owns.
    const { iouPredictions, lowResMasks } = await this.runDecoder(inputs, false, false);
    const m = maskInputSize(this.config);
    const plane = m * m;
    const [first, count] = opts.multimask ? [1, this.config.numMultimaskOutputs] : [0, 1];
    const iou = iouPredictions.data as Float32Array;
    const low = lowResMasks.data as Float32Array;
    return {
      lowResMasks: float32Tensor([1, count, m, m], low.slice(first * plane, (first + count) * plane)),
      iouPredictions: float32Tensor([1, count], iou.slice(first, first + count)),
    };
  }

  async runDecoderRaw(inputs: OnnxDecoderRawInputs): Promise<OnnxDecoderRawOutputs> {
    const { masks, iouPredictions, lowResMasks } = await this.runDecoder(inputs, true, true);
    if (!masks) throw new OnnxModelError('ONNX decoder returned no "masks"');
    return { masks, iouPredictions, lowResMasks };
  }

  private runDecoder(
    inputs: OnnxDecoderRawInputs,
    withMasks: boolean,
    copy: boolean,
  ): Promise<{ masks?: HostTensor; iouPredictions: HostTensor; lowResMasks: HostTensor }> {
    const cfg = this.config;
    const g = gridSize(cfg);
    const m = maskInputSize(cfg);
    const t = cfg.numMultimaskOutputs + 1;
    expectShape(inputs.imageEmbeddings, [1, cfg.promptEmbedDim, g, g], 'decoder image_embeddings');
    const n = inputs.pointCoords.shape[1];
    expectShape(inputs.pointCoords, [1, n, 2], 'decoder point_coords');
    expectShape(inputs.pointLabels, [1, n], 'decoder point_labels');
    expectShape(inputs.maskInput, [1, 1, m, m], 'decoder mask_input');
    expectShape(inputs.hasMaskInput, [1], 'decoder has_mask_input');
    expectShape(inputs.origImSize, [2], 'decoder orig_im_size');
    const all: Record<DecoderInputName, ort.Tensor> = {
      image_embeddings: toOrt(inputs.imageEmbeddings, 'image_embeddings'),
      point_coords: toOrt(inputs.pointCoords, 'point_coords'),
      point_labels: toOrt(inputs.pointLabels, 'point_labels'),
      mask_input: toOrt(inputs.maskInput, 'mask_input'),
      has_mask_input: toOrt(inputs.hasMaskInput, 'has_mask_input'),
      orig_im_size: toOrt(inputs.origImSize, 'orig_im_size'),
    };
    // ONNX Runtime runs a whole graph whatever is fetched: decode() runs the cut one (openDecoder).
    const fetches = withMasks ? [...DECODER_OUTPUTS] : ['iou_predictions', 'low_res_masks'];
    return this.serial(async () => {
      const session = withMasks ? await this.decoder.full() : this.decoder.fast;
      // The cut graph reads no orig_im_size; a feed the session does not have is an error to ONNX Runtime.
      const feeds = Object.fromEntries(session.inputNames.map((n) => [n, all[n as DecoderInputName]]));
      const out = await session.run(feeds, fetches);
      return {
        masks: withMasks ? fromOrt(out['masks'], 'masks', [1, t, null, null], copy) : undefined,
        iouPredictions: fromOrt(out['iou_predictions'], 'iou_predictions', [1, t], copy),
        lowResMasks: fromOrt(out['low_res_masks'], 'low_res_masks', [1, t, m, m], copy),
      };
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    // Release once every queued run has settled; release errors have nowhere to go from a sync dispose().
    void this.queue.then(() => Promise.allSettled([this.encoder?.release(), this.decoder.release()]));
  }
}
