import { writeFileSync } from 'node:fs';
import { embedImage } from '../use-cases/embed-image';
import { MODEL_HELP, MODEL_OPTIONS, modelFlags } from './model-options';
import { readImageFile } from '../io/image-file';
import { EXIT, UserError } from '../cli/errors';
import { Command } from './command';

export const embedCommand: Command = {
  name: 'embed',
  summary: 'run the frozen image encoder on one image and save its embedding',
  usage: `site-agent embed --image <png|jpg> --out <file.safetensors> [model options]
${MODEL_HELP}`,
  options: { ...MODEL_OPTIONS, image: { type: 'string' }, out: { type: 'string' } },
  async run(v, log) {
    const image = v.string('image', true);
    const out = v.string('out', true);
    const img = readImageFile(image);
    const m = modelFlags(v);
    const { bytes } = await embedImage({ image: img, engine: m.engine, files: m.files, log });
    try {
      writeFileSync(out, bytes);
    } catch (err) {
      throw new UserError(`cannot write ${out}: ${(err as Error).message}`, EXIT.input);
    }
    log(`wrote ${out}`);
  },
};
