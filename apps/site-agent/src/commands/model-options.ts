import { DEFAULT_PRESET } from '@casam/casam-core';
import {
  DEFAULT_ENGINE,
  ENGINE_CHOICES,
  type EngineChoice,
  type ModelFiles,
  parseEngineChoice,
} from '../model/engine-factory';
import { OptionValues } from './command';

/** Options shared by every command that runs SAM. */
export const MODEL_OPTIONS = {
  model: { type: 'string', default: DEFAULT_PRESET },
  checkpoint: { type: 'string' },
  engine: { type: 'string', default: DEFAULT_ENGINE },
  'encoder-onnx': { type: 'string' },
  'decoder-onnx': { type: 'string' },
  'onnx-cache': { type: 'string' },
  backend: { type: 'string' },
} as const;

export const MODEL_HELP = `  --model <preset>          vit_b | vit_l | vit_h | sam-mini | casam-tiny | casam-small (default ${DEFAULT_PRESET})
  --checkpoint <file>       SAM weights: official .pth (e.g. sam_vit_b_01ec64.pth) or .safetensors
  --engine ${ENGINE_CHOICES.join('|')}        inference engine (default ${DEFAULT_ENGINE})
                            onnx: ONNX Runtime on graphs exported from --checkpoint on first use and
                            checked against tfjs (or on --encoder-onnx/--decoder-onnx); tfjs: TensorFlow.js
  --encoder-onnx <file>     image-encoder ONNX export (with --engine onnx)
  --decoder-onnx <file>     decoder ONNX export in the official SamOnnxModel format (with --engine onnx)
  --onnx-cache <dir>        where exports made on first use are kept (default ~/.cache/casam-federation/onnx)
  --backend <name>          tfjs backend: auto | tfjs-node-gpu | tfjs-node | wasm | cpu (env CASAM_BACKEND)`;

/** `--engine` alone, for commands that run the agent home's base model (train, serve). */
export const ENGINE_OPTION = { engine: MODEL_OPTIONS.engine } as const;
export const ENGINE_HELP = `  --engine ${ENGINE_CHOICES.join('|')}        inference engine (default ${DEFAULT_ENGINE}: ONNX Runtime on graphs exported from
                            the base model on first use, checked against tfjs; tfjs if ONNX Runtime is unavailable)`;

/** The engine and model files a command's parsed flags describe. */
export function modelFlags(v: OptionValues): { engine: EngineChoice; files: ModelFiles } {
  return {
    engine: parseEngineChoice(v.string('engine') ?? DEFAULT_ENGINE),
    files: {
      model: v.string('model') ?? DEFAULT_PRESET,
      checkpoint: v.string('checkpoint'),
      encoderOnnx: v.string('encoder-onnx'),
      decoderOnnx: v.string('decoder-onnx'),
      onnxCache: v.string('onnx-cache'),
      backend: v.string('backend'),
    },
  };
}
