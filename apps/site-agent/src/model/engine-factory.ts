/**
 * The one place the site agent builds SAM. It resolves the preset, picks the engine (TF.js on a backend, or
 * ONNX Runtime on exported graphs), loads the weights, and turns every foreseeable failure into a one-line
 * UserError with its exit code. Two kinds of callers:
 * - `createEngine`: the model named by command-line flags (`embed`, `segment --checkpoint …`);
 * - `loadBaseModel`: the agent home's frozen base model (`train`, `segment`, `serve`), with its fingerprint.
 * The engine is one parameter of both (`EngineChoice`); only the default says which one runs when none is asked.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  BACKEND_NAMES,
  type BackendName,
  buildSam,
  CheckpointMismatchError,
  createOnnxSamEngine,
  createTfjsSamEngine,
  getPreset,
  initBackend,
  loadSamWeights,
  OnnxModelError,
  type Sam,
  type SamConfig,
  type SamEngine,
  stateDictFingerprint,
  type StateDict,
  writeFileAtomic,
} from '@casam/casam-core';
import { EXIT, UserError } from '../cli/errors';
import type { AgentConfig, AgentHome } from '../home/agent-home';

export const ENGINE_CHOICES = ['tfjs', 'onnx'] as const;
export type EngineChoice = (typeof ENGINE_CHOICES)[number];
/** The engine when none is asked for. */
export const DEFAULT_ENGINE: EngineChoice = 'tfjs';

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
}

/** The agent home's frozen base model. */
export interface BaseModel {
  config: SamConfig;
  sam: Sam;
  engine: SamEngine;
  fingerprint: string;
  weightsPath: string;
}

/** SAM from the files the flags name, on the chosen engine. */
export async function createEngine(
  choice: EngineChoice,
  f: ModelFiles,
  log: (line: string) => void,
): Promise<SamEngine> {
  const config = resolvePreset(f.model);
  if (choice === 'onnx') {
    if (!f.encoderOnnx || !f.decoderOnnx)
      throw new UserError('--engine onnx needs --encoder-onnx <file> and --decoder-onnx <file>', EXIT.usage);
    try {
      const engine = await createOnnxSamEngine({
        config,
        encoderPath: f.encoderOnnx,
        decoderPath: f.decoderOnnx,
      });
      log(`engine: onnxruntime-node (cpu), model ${config.name}`);
      return engine;
    } catch (e) {
      if (e instanceof OnnxModelError) throw new UserError(e.message, EXIT.model);
      throw e;
    }
  }
  if (!f.checkpoint)
    throw new UserError(
      `--checkpoint <file> is required for model "${config.name}" (a .pth or .safetensors file)`,
      EXIT.usage,
    );
  if (!existsSync(f.checkpoint)) throw new UserError(`checkpoint not found: ${f.checkpoint}`, EXIT.input);
  await startBackend(parseBackendName(f.backend), log);
  const sd = loadWeights(f.checkpoint, config, '');
  log(`engine: tfjs, model ${config.name}`);
  return createTfjsSamEngine(buildSam(config, sd));
}

/**
 * Loads the agent home's frozen base model (preset and weights from agent.json) on the chosen engine. Training
 * needs the TF.js model itself; the home has no ONNX export of its base model yet, so only TF.js runs it.
 */
export async function loadBaseModel(
  home: AgentHome,
  c: AgentConfig,
  log: (l: string) => void,
  choice: EngineChoice = DEFAULT_ENGINE,
): Promise<BaseModel> {
  if (choice !== 'tfjs')
    throw new UserError(
      `the agent's base model runs on tfjs only (no ONNX export of it yet); for ONNX Runtime give ` +
        `--engine onnx --encoder-onnx <file> --decoder-onnx <file>`,
      EXIT.usage,
    );
  await startBackend(c.backend, log);
  const { config, sd, path } = readHomeWeights(home, c);
  const sam = buildSam(config, sd);
  return {
    config,
    sam,
    engine: createTfjsSamEngine(sam),
    fingerprint: stateDictFingerprint(sd),
    weightsPath: path,
  };
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

async function startBackend(prefer: BackendName | 'auto' | undefined, log: (l: string) => void) {
  try {
    await initBackend({ prefer, log });
  } catch (e) {
    throw new UserError((e as Error).message, EXIT.backend);
  }
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

function readHomeWeights(
  home: AgentHome,
  c: AgentConfig,
): { config: SamConfig; sd: StateDict; path: string } {
  const config = resolvePreset(c.model.preset);
  const path = home.weightsPath(c);
  if (!existsSync(path))
    throw new UserError(
      `base-model weights not found: ${path} (set model.weights in ${home.configFile}, or run npm run pretrain for the embedded casam-tiny)`,
      EXIT.model,
    );
  return { config, sd: loadWeights(path, config, `cannot load ${path}: `), path };
}

function parseBackendName(b: string | undefined): BackendName | 'auto' | undefined {
  if (b === undefined || b === 'auto') return b;
  if ((BACKEND_NAMES as readonly string[]).includes(b)) return b as BackendName;
  throw new UserError(`--backend must be one of auto, ${BACKEND_NAMES.join(', ')}; got "${b}"`, EXIT.usage);
}
