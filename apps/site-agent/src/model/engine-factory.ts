/**
 * The one place the site agent builds SAM. It resolves the preset, picks the engine (TF.js on a backend, or
 * ONNX Runtime on exported graphs), loads the weights, and turns every foreseeable failure into a one-line
 * UserError with its exit code. Two kinds of callers:
 * - `createEngine`: the model named by command-line flags (`embed`, `segment --checkpoint …`);
 * - `loadBaseModel`: the agent home's frozen base model (`train`, `segment`, `serve`), with its fingerprint.
 * The engine is one parameter of both (`EngineChoice`). The default is ONNX Runtime: the base model's graphs are
 * exported by the project's own exporter on first use, checked against TF.js on a probe input and cached in the
 * home (`onnx-cache/`); when that fails (ONNX Runtime does not load here, or the probe disagrees) the agent says
 * so and runs TF.js. TF.js always stays loaded for training (gradients) and as that fallback.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  BACKEND_NAMES,
  createOnnxRoutedSegmenter,
  createRoutedSegmenter,
  ensureOnnxAlignmentLayers,
  ensureOnnxBaseExport,
  ensureOnnxTaskDecoders,
  type LoadedAdapter,
  type RoutedSegmenter,
  type BackendName,
  buildSam,
  CheckpointMismatchError,
  createOnnxSamEngine,
  createTfjsSamEngine,
  getPreset,
  initBackend,
  loadSamWeights,
  OnnxModelError,
  type OnnxSamEngine,
  type Sam,
  type SamConfig,
  type SamEngine,
  stateDictFingerprint,
  type StateDict,
  writeFileAtomic,
  DEFAULT_PRESET,
} from '@casam/casam-core';
import { EXIT, UserError } from '../cli/errors';
import type { AgentConfig, AgentHome } from '../home/agent-home';

export const ENGINE_CHOICES = ['tfjs', 'onnx'] as const;
export type EngineChoice = (typeof ENGINE_CHOICES)[number];
/** The engine when none is asked for. */
export const DEFAULT_ENGINE: EngineChoice = 'onnx';

/** `--engine`'s text as an engine choice; exit 2 naming the choices otherwise. */
export function parseEngineChoice(s: string): EngineChoice {
  if ((ENGINE_CHOICES as readonly string[]).includes(s)) return s as EngineChoice;
  throw new UserError(`--engine must be ${ENGINE_CHOICES.join(' or ')}, got "${s}"`, EXIT.usage);
}

/** The model files named on the command line. */
export interface ModelFiles {
  /** Preset name (`--model`). */
  model: string;
  /** TF.js: official .pth or .safetensors weights (`--checkpoint`). */
  checkpoint?: string;
  /** ONNX Runtime: the exported image encoder and decoder (`--encoder-onnx`, `--decoder-onnx`). */
  encoderOnnx?: string;
  decoderOnnx?: string;
  /** TF.js backend (`--backend`): auto or one of BACKEND_NAMES. */
  backend?: string;
  /** Where exports made on first use are cached (`--onnx-cache`); default defaultOnnxCacheDir(). */
  onnxCache?: string;
}

/** The agent home's frozen base model. */
export interface BaseModel {
  config: SamConfig;
  /** The TF.js model: training (gradients) runs on it. */
  sam: Sam;
  /** The inference engine: ONNX Runtime by default, TF.js when asked or when ONNX Runtime is unavailable. */
  engine: SamEngine;
  fingerprint: string;
  weightsPath: string;
  /** A routed segmenter over `engine` for these adapters (it owns them; the engine stays open). */
  createSegmenter(adapters: LoadedAdapter[]): Promise<RoutedSegmenter>;
}

/** Where exports made on first use go when no agent home is involved (`segment --checkpoint …`, `embed`). */
export function defaultOnnxCacheDir(): string {
  return join(process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'casam-federation', 'onnx');
}

/**
 * SAM from the files the flags name, on the chosen engine. ONNX Runtime runs the given exports, or, from a
 * checkpoint, graphs this agent exports on first use (cached in `onnxCache`); TF.js runs the checkpoint.
 */
export async function createEngine(
  choice: EngineChoice,
  f: ModelFiles,
  log: (line: string) => void,
): Promise<SamEngine> {
  const config = resolvePreset(f.model);
  if (choice === 'onnx' && (f.encoderOnnx || f.decoderOnnx || !f.checkpoint)) {
    if (!f.encoderOnnx || !f.decoderOnnx)
      throw new UserError(
        '--engine onnx needs --checkpoint <file> (exported on first use) or --encoder-onnx <file> and --decoder-onnx <file>',
        EXIT.usage,
      );
    const engine = await openOnnx(config, f.encoderOnnx, f.decoderOnnx);
    log(`engine: onnxruntime-node (cpu), model ${config.name}`);
    return engine;
  }
  if (!f.checkpoint)
    throw new UserError(
      `--checkpoint <file> is required for model "${config.name}" (a .pth or .safetensors file)`,
      EXIT.usage,
    );
  if (!existsSync(f.checkpoint)) throw new UserError(`checkpoint not found: ${f.checkpoint}`, EXIT.input);
  await startBackend(parseBackendName(f.backend), log);
  const sd = loadWeights(f.checkpoint, config, '');
  const tfjs = createTfjsSamEngine(buildSam(config, sd));
  if (choice === 'onnx') {
    const engine = await exportedOrWarn(
      f.onnxCache ?? defaultOnnxCacheDir(),
      config,
      stateDictFingerprint(sd),
      sd,
      () => tfjs,
      log,
    );
    if (engine) {
      tfjs.dispose();
      log(`engine: onnxruntime-node (cpu), model ${config.name} (exported from ${f.checkpoint})`);
      return engine;
    }
  }
  log(`engine: tfjs, model ${config.name}`);
  return tfjs;
}

/**
 * ONNX Runtime on the export of these weights (made and probed against `reference` on first use, cached in
 * `cacheRoot`), or null after a warning naming why not: the caller then runs TF.js.
 */
async function exportedOrWarn(
  cacheRoot: string,
  config: SamConfig,
  modelFingerprint: string,
  sd: StateDict,
  reference: () => SamEngine,
  log: (l: string) => void,
): Promise<OnnxSamEngine | null> {
  try {
    const exp = await ensureOnnxBaseExport({
      cacheRoot,
      config,
      modelFingerprint,
      stateDict: () => sd,
      reference,
      log,
    });
    return await createOnnxSamEngine({ config, encoderPath: exp.encoderPath, decoderPath: exp.decoderPath });
  } catch (e) {
    log(
      `warning: ONNX Runtime is not used (${(e as Error).message}); engine: tfjs (pass --engine tfjs to skip)`,
    );
    return null;
  }
}

async function openOnnx(config: SamConfig, encoderPath: string, decoderPath: string): Promise<OnnxSamEngine> {
  try {
    return await createOnnxSamEngine({ config, encoderPath, decoderPath });
  } catch (e) {
    if (e instanceof OnnxModelError) throw new UserError(e.message, EXIT.model);
    throw e;
  }
}

/**
 * Loads the agent home's frozen base model (preset and weights from agent.json) and opens it on the chosen engine.
 * ONNX Runtime (the default) runs graphs exported from these very weights on first use; any failure there is a
 * warning and TF.js runs instead, so a site never loses segmentation to the fast path.
 */
export async function loadBaseModel(
  home: AgentHome,
  c: AgentConfig,
  log: (l: string) => void,
  choice: EngineChoice = DEFAULT_ENGINE,
): Promise<BaseModel> {
  await startBackend(c.backend, log);
  const { config, sd, path } = readHomeWeights(home, c);
  const fingerprint = stateDictFingerprint(sd);
  // The TF.js model is built only when something needs it (training, the first export's probe, the fallback):
  // segment and serve on a cached ONNX export never pay for it.
  let sam: Sam | undefined;
  let tfjs: SamEngine | undefined;
  const tfjsModel = () => (sam ??= buildSam(config, sd));
  const tfjsEngine = () => (tfjs ??= createTfjsSamEngine(tfjsModel()));
  const model = (
    engine: SamEngine,
    createSegmenter: (adapters: LoadedAdapter[]) => Promise<RoutedSegmenter>,
  ): BaseModel => ({
    config,
    get sam() {
      return tfjsModel();
    },
    engine,
    fingerprint,
    weightsPath: path,
    createSegmenter,
  });
  const onTfjs = () => model(tfjsEngine(), async (adapters) => createRoutedSegmenter(tfjsEngine(), adapters));
  if (choice === 'tfjs') {
    log(`engine: tfjs, model ${config.name}`);
    return onTfjs();
  }
  const cacheRoot = home.onnxCacheDir;
  const engine = await exportedOrWarn(cacheRoot, config, fingerprint, sd, tfjsEngine, log);
  if (!engine) return onTfjs();
  log(`engine: onnxruntime-node (cpu), model ${config.name} (TF.js kept for training)`);
  return model(engine, async (adapters) => {
    try {
      const files = await ensureOnnxAlignmentLayers(cacheRoot, config, adapters, { log });
      // Tasks with a decoder delta (version 2 adapters) decode with their own decoder graph (the delta merged
      // into the weights), exported on first use; the TF.js model is built only to probe a new one.
      const decoders = await ensureOnnxTaskDecoders(cacheRoot, config, adapters, {
        modelFingerprint: fingerprint,
        stateDict: () => sd,
        engine,
        reference: tfjsEngine,
        log,
      });
      return await createOnnxRoutedSegmenter({
        config,
        engine,
        alignmentLayerFiles: files,
        taskDecoderFiles: decoders,
        adapters,
      });
    } catch (e) {
      if (!(e instanceof OnnxModelError)) throw e;
      log(`warning: the bundle's task graphs (Alignment Layers, decoders) run on TF.js: ${e.message}`);
      return createRoutedSegmenter(tfjsEngine(), adapters);
    }
  });
}

/**
 * The base model's fingerprint (sha256 over its weights), cached in the home keyed by the weights file's size
 * and mtime so commands that only need the fingerprint (propose, pull) do not load the model every time.
 */
export function baseModelFingerprint(home: AgentHome, c: AgentConfig): string {
  const path = home.weightsPath(c);
  const cacheFile = join(home.dir, 'base-model.json');
  const st = existsSync(path) ? statSync(path) : null;
  const key = st ? `${c.model.preset}:${path}:${st.size}:${Math.round(st.mtimeMs)}` : '';
  if (st && existsSync(cacheFile)) {
    try {
      const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as { key: string; fingerprint: string };
      if (cached.key === key) return cached.fingerprint;
    } catch {
      // recompute below
    }
  }
  const { sd } = readHomeWeights(home, c);
  const fingerprint = stateDictFingerprint(sd);
  writeFileAtomic(cacheFile, JSON.stringify({ key, fingerprint }) + '\n');
  return fingerprint;
}

function resolvePreset(name: string): SamConfig {
  try {
    return getPreset(name);
  } catch (e) {
    throw new UserError((e as Error).message, EXIT.usage);
  }
}

export async function startBackend(prefer: BackendName | 'auto' | undefined, log: (l: string) => void) {
  try {
    await initBackend({ prefer, log });
  } catch (e) {
    throw new UserError((e as Error).message, EXIT.backend);
  }
}

/** The preset the flags name and the checkpoint's weights for it (exit 2, 3 or 4 as `segment --checkpoint`). */
export function readCheckpointWeights(
  model: string,
  checkpoint: string,
): { config: SamConfig; sd: StateDict } {
  const config = resolvePreset(model);
  if (!existsSync(checkpoint)) throw new UserError(`checkpoint not found: ${checkpoint}`, EXIT.input);
  return { config, sd: loadWeights(checkpoint, config, '') };
}

/** Weights for `config`; a file that is not them is exit 4, its message prefixed by `prefix`. */
function loadWeights(path: string, config: SamConfig, prefix: string): StateDict {
  try {
    return loadSamWeights(path, config);
  } catch (e) {
    if (e instanceof CheckpointMismatchError) throw new UserError(e.message, EXIT.model);
    throw new UserError(`${prefix}${(e as Error).message}`, EXIT.model);
  }
}

/** The home's base-model preset, weights and their path; clear exits when the file is missing or wrong. */
export function readHomeWeights(
  home: AgentHome,
  c: AgentConfig,
): { config: SamConfig; sd: StateDict; path: string } {
  const config = resolvePreset(c.model.preset);
  const path = home.weightsPath(c);
  if (!existsSync(path))
    throw new UserError(
      `base-model weights not found: ${path} (set model.weights in ${home.configFile}, or run site-agent init --force to copy in the embedded ${DEFAULT_PRESET} model)`,
      EXIT.model,
    );
  return { config, sd: loadWeights(path, config, `cannot load ${path}: `), path };
}

export function parseBackendName(b: string | undefined): BackendName | 'auto' | undefined {
  if (b === undefined || b === 'auto') return b;
  if ((BACKEND_NAMES as readonly string[]).includes(b)) return b as BackendName;
  throw new UserError(`--backend must be one of auto, ${BACKEND_NAMES.join(', ')}; got "${b}"`, EXIT.usage);
}
