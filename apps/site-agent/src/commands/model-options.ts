import { EngineOptions } from '../model/load-engine';
import { OptionValues } from './command';

/** Options shared by every command that runs SAM. */
export const MODEL_OPTIONS = {
  model: { type: 'string', default: 'casam-tiny' },
  checkpoint: { type: 'string' },
  engine: { type: 'string', default: 'tfjs' },
  'encoder-onnx': { type: 'string' },
  'decoder-onnx': { type: 'string' },
  backend: { type: 'string' },
} as const;

export const MODEL_HELP = `  --model <preset>          vit_b | vit_l | vit_h | sam-mini | casam-tiny (default casam-tiny)
  --checkpoint <file>       SAM weights: official .pth (e.g. sam_vit_b_01ec64.pth) or .safetensors
  --engine tfjs|onnx        inference engine (default tfjs)
  --encoder-onnx <file>     image-encoder ONNX export (with --engine onnx)
  --decoder-onnx <file>     decoder ONNX export in the official SamOnnxModel format (with --engine onnx)
  --backend <name>          tfjs backend: auto | tfjs-node-gpu | tfjs-node | wasm | cpu (env CASAM_BACKEND)`;

/** The engine options a command's parsed flags describe. */
export function engineOptionsFrom(v: OptionValues, log: (line: string) => void): EngineOptions {
  return {
    model: v.string('model') ?? 'casam-tiny',
    checkpoint: v.string('checkpoint'),
    engine: v.string('engine') ?? 'tfjs',
    encoderOnnx: v.string('encoder-onnx'),
    decoderOnnx: v.string('decoder-onnx'),
    backend: v.string('backend'),
    log,
  };
}
