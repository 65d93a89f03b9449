import { existsSync } from 'node:fs';
import {
  CheckpointMismatchError,
  SamEngine,
  buildSam,
  createOnnxSamEngine,
  createTfjsSamEngine,
  getPreset,
  initBackend,
  loadSamWeights,
  OnnxModelError,
  BACKEND_NAMES,
  BackendName,
} from '@casam/casam-core';
import { EXIT, UserError } from '../cli/errors';

export interface EngineOptions {
  model: string;
  checkpoint?: string;
  engine: string;
  encoderOnnx?: string;
  decoderOnnx?: string;
  backend?: string;
  log: (line: string) => void;
}

/** Builds the requested engine, turning every foreseeable failure into a one-line UserError. */
export async function loadEngine(o: EngineOptions): Promise<SamEngine> {
  let config;
  try {
    config = getPreset(o.model);
  } catch (e) {
    throw new UserError((e as Error).message, EXIT.usage);
  }
  if (o.engine === 'onnx') {
    if (!o.encoderOnnx || !o.decoderOnnx)
      throw new UserError('--engine onnx needs --encoder-onnx <file> and --decoder-onnx <file>', EXIT.usage);
    try {
      const engine = await createOnnxSamEngine({
        config,
        encoderPath: o.encoderOnnx,
        decoderPath: o.decoderOnnx,
      });
      o.log(`engine: onnxruntime-node (cpu), model ${config.name}`);
      return engine;
    } catch (e) {
      if (e instanceof OnnxModelError) throw new UserError(e.message, EXIT.model);
      throw e;
    }
  }
  if (o.engine !== 'tfjs')
    throw new UserError(`--engine must be tfjs or onnx, got "${o.engine}"`, EXIT.usage);
  if (!o.checkpoint)
    throw new UserError(
      `--checkpoint <file> is required for model "${config.name}" (a .pth or .safetensors file)`,
      EXIT.usage,
    );
  if (!existsSync(o.checkpoint)) throw new UserError(`checkpoint not found: ${o.checkpoint}`, EXIT.input);
  try {
    await initBackend({ prefer: parseBackendName(o.backend), log: o.log });
  } catch (e) {
    throw new UserError((e as Error).message, EXIT.backend);
  }
  let sd;
  try {
    sd = loadSamWeights(o.checkpoint, config);
  } catch (e) {
    if (e instanceof CheckpointMismatchError) throw new UserError(e.message, EXIT.model);
    throw new UserError((e as Error).message, EXIT.model);
  }
  o.log(`engine: tfjs, model ${config.name}`);
  return createTfjsSamEngine(buildSam(config, sd));
}

function parseBackendName(b: string | undefined): BackendName | 'auto' | undefined {
  if (b === undefined || b === 'auto') return b;
  if ((BACKEND_NAMES as readonly string[]).includes(b)) return b as BackendName;
  throw new UserError(`--backend must be one of auto, ${BACKEND_NAMES.join(', ')}; got "${b}"`, EXIT.usage);
}
