import { tf } from './tf';
import { EngineDecodeOptions, EngineDecodeResult, EnginePrompt, SamEngine } from './engine';
import { Sam } from './sam';
import { PromptInput } from './prompt-encoder';
import { HostTensor, float32Tensor, shapeEquals, toFloat32 } from '../tensor/host-tensor';
import { gridSize, maskInputSize } from './config';

function toHost(t: tf.Tensor): HostTensor {
  return float32Tensor([...t.shape], t.dataSync() as Float32Array);
}

/** SamEngine over the TF.js model (whatever backend is active). */
export function createTfjsSamEngine(sam: Sam): SamEngine {
  const cfg = sam.config;
  const g = gridSize(cfg);
  const embShape = [1, cfg.outChans, g, g];
  return {
    kind: 'tfjs',
    config: cfg,
    async embed(pre: HostTensor): Promise<HostTensor> {
      const want = [1, cfg.inChans, cfg.imgSize, cfg.imgSize];
      if (!shapeEquals(pre.shape, want))
        throw new Error(`embed: expected a preprocessed image [${want}], got [${pre.shape}]`);
      const out = tf.tidy(() =>
        sam.imageEncoder.forward(tf.tensor4d(toFloat32(pre), want as [number, number, number, number])),
      );
      try {
        return float32Tensor(embShape, (await out.data()) as Float32Array);
      } finally {
        out.dispose();
      }
    },
    async decode(
      emb: HostTensor,
      prompt: EnginePrompt,
      opts: EngineDecodeOptions,
    ): Promise<EngineDecodeResult> {
      if (!shapeEquals(emb.shape, embShape))
        throw new Error(`decode: expected image embeddings [${embShape}], got [${emb.shape}]`);
      const res = tf.tidy(() => {
        const input: PromptInput = {};
        const n = prompt.pointCoords?.length ?? 0;
        if (n > 0) {
          input.points = {
            coords: tf.tensor3d(prompt.pointCoords!.flat(), [1, n, 2]),
            labels: tf.tensor2d(prompt.pointLabels!, [1, n]),
          };
        }
        if (prompt.box) input.boxes = tf.tensor2d(prompt.box, [1, 4]);
        if (prompt.maskInput) {
          const m = maskInputSize(cfg);
          input.masks = tf.tensor4d(toFloat32(prompt.maskInput), [1, 1, m, m]);
        }
        const { sparse, dense } = sam.promptEncoder.encode(input);
        const image = tf.tensor4d(toFloat32(emb), embShape as [number, number, number, number]);
        const out = sam.maskDecoder.forward(
          image,
          sam.densePe,
          sparse,
          dense,
          opts.multimask,
          undefined,
          opts.decoderDelta,
        );
        return { masks: out.masks, iou: out.iou };
      });
      try {
        return { lowResMasks: toHost(res.masks), iouPredictions: toHost(res.iou) };
      } finally {
        res.masks.dispose();
        res.iou.dispose();
      }
    },
    dispose() {
      sam.dispose();
    },
  };
}
