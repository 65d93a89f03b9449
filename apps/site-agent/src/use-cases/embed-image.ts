/**
 * Use case: run the frozen image encoder once on one image and return its embedding as safetensors bytes
 * (`image_embeddings` [1,C,H,W], NCHW, with the model, engine and sizes as metadata). `site-agent embed` calls
 * it and writes the file. Progress (the size embedded, the time it took) goes to `log`.
 */
import { createSamPredictor, type RgbImage, writeSafetensors } from '@casam/casam-core';
import { createEngine, type EngineChoice, type ModelFiles } from '../model/engine-factory';

export interface EmbedImageInput {
  image: RgbImage;
  engine: EngineChoice;
  files: ModelFiles;
  log: (l: string) => void;
}

export interface ImageEmbedding {
  /** The safetensors file. */
  bytes: Uint8Array;
  shape: number[];
  seconds: number;
}

export async function embedImage(o: EmbedImageInput): Promise<ImageEmbedding> {
  const { image: img, log } = o;
  const engine = await createEngine(o.engine, o.files, log);
  const predictor = createSamPredictor(engine);
  try {
    const t0 = Date.now();
    log(`embedding ${img.width}×${img.height} image at ${engine.config.imgSize} px…`);
    const e = await predictor.setImage(img);
    const seconds = (Date.now() - t0) / 1000;
    log(`embedded in ${seconds.toFixed(2)} s: image_embeddings [${e.embeddings.shape}]`);
    const bytes = writeSafetensors([['image_embeddings', e.embeddings]], {
      model: engine.config.name,
      engine: engine.kind,
      original_size: JSON.stringify(e.originalSize),
      input_size: JSON.stringify(e.inputSize),
      layout: 'NCHW',
    });
    return { bytes, shape: [...e.embeddings.shape], seconds };
  } finally {
    predictor.dispose();
  }
}
