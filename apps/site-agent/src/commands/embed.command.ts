import { writeFileSync } from 'node:fs';
import { createSamPredictor, writeSafetensors } from '@casam/casam-core';
import { createEngine } from '../model/engine-factory';
import { MODEL_HELP, MODEL_OPTIONS, modelFlags } from './model-options';
import { readImageFile } from './read-image';
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
    const engine = await createEngine(m.engine, m.files, log);
    const predictor = createSamPredictor(engine);
    try {
      const t0 = Date.now();
      log(`embedding ${img.width}×${img.height} image at ${engine.config.imgSize} px…`);
      const e = await predictor.setImage(img);
      log(`embedded in ${((Date.now() - t0) / 1000).toFixed(2)} s: image_embeddings [${e.embeddings.shape}]`);
      const bytes = writeSafetensors([['image_embeddings', e.embeddings]], {
        model: engine.config.name,
        engine: engine.kind,
        original_size: JSON.stringify(e.originalSize),
        input_size: JSON.stringify(e.inputSize),
        layout: 'NCHW',
      });
      try {
        writeFileSync(out, bytes);
      } catch (err) {
        throw new UserError(`cannot write ${out}: ${(err as Error).message}`, EXIT.input);
      }
      log(`wrote ${out}`);
    } finally {
      predictor.dispose();
    }
  },
};
