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
  model: { type: 'string', default: 'casam-tiny' },
  checkpoint: { type: 'string' },
  engine: { type: 'string', default: DEFAULT_ENGINE },
  'encoder-onnx': { type: 'string' },
  'decoder-onnx': { type: 'string' },
  backend: { type: 'string' },
} as const;

export const MODEL_HELP = `  --model <preset>          vit_b | vit_l | vit_h | sam-mini | casam-tiny (default casam-tiny)
  --checkpoint <file>       SAM weights: official .pth (e.g. sam_vit_b_01ec64.pth) or .safetensors
  --engine ${ENGINE_CHOICES.join('|')}        inference engine (default ${DEFAULT_ENGINE})
  --encoder-onnx <file>     image-encoder ONNX export (with --engine onnx)
  --decoder-onnx <file>     decoder ONNX export in the official SamOnnxModel format (with --engine onnx)
  --backend <name>          tfjs backend: auto | tfjs-node-gpu | tfjs-node | wasm | cpu (env CASAM_BACKEND)`;

/** The engine and model files a command's parsed flags describe. */
export function modelFlags(v: OptionValues): { engine: EngineChoice; files: ModelFiles } {
  return {
    engine: parseEngineChoice(v.string('engine') ?? DEFAULT_ENGINE),
    files: {
      model: v.string('model') ?? 'casam-tiny',
      checkpoint: v.string('checkpoint'),
      encoderOnnx: v.string('encoder-onnx'),
      decoderOnnx: v.string('decoder-onnx'),
      backend: v.string('backend'),
    },
  };
}
