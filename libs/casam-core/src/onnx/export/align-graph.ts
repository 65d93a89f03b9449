/**
 * CA-SAM's Alignment Layer (`AlignCNN(num_layers=3, dim=C)`, see casam/align-layer.ts) as an ONNX graph:
 *
 *   image_embeddings [B,C,H,W] → 3 × (CAResBlock → shared LayerNorm2d) → aligned_embeddings [B,C,H,W]
 *   CAResBlock: r = x; x = conv3×3(relu(x)); x = conv3×3(relu(x)); x = x·ECA(x) + r
 *   ECA: sigmoid(conv1d_k(mean_hw(x)) over the channel axis), zero padding k//2, no bias
 *
 * NCHW throughout (SAM's embedding layout, and ONNX Conv's). Batch, height and width are dynamic unless a
 * grid is given, so one file serves any embedding grid of its channel count.
 */
import { ALIGN_NUM_BLOCKS, alignmentStateDictSpec, ecaKernelSize } from '../../casam/casam-shapes';
import { checkStateDict } from '../../casam/state-dict-check';
import { ALIGN_LAYER_NORM_EPS } from '../../casam/align-layer';
import { StateDict } from '../../tensor/host-tensor';
import {
  GraphBuilder,
  ModelOptions,
  OnnxDim,
  SerializeOptions,
  SerializedModel,
  attrInt,
  attrInts,
} from './onnx-builder';
import { ExportWeights } from './weights';

export const ALIGN_INPUT_NAME = 'image_embeddings';
export const ALIGN_OUTPUT_NAME = 'aligned_embeddings';

export interface AlignGraphOptions {
  /** Channels C of the embeddings (64 for the small presets, 256 for vit_b/l/h). */
  channels: number;
  /** Static H = W of the embedding grid; omitted: dynamic. */
  grid?: number;
}

/** Builds the graph from the layer's state dict (`blocks.{i}.conv1.weight`, …, `norm.bias`; PyTorch layout). */
export function buildAlignGraph(sd: StateDict, opts: AlignGraphOptions): GraphBuilder {
  const c = opts.channels;
  checkStateDict(sd, alignmentStateDictSpec(c), `Alignment Layer (C=${c})`);
  const k = ecaKernelSize(c);
  const b = new GraphBuilder(`alignment-layer-c${c}`);
  const w = new ExportWeights(sd, b);
  const dims: OnnxDim[] = ['batch', c, opts.grid ?? 'height', opts.grid ?? 'width'];
  let x = b.input(ALIGN_INPUT_NAME, 'float32', dims);
  // One LayerNorm2d shared by the three block outputs: the same two initializers feed all three.
  const norm = w.norm('norm', c);
  for (let i = 0; i < ALIGN_NUM_BLOCKS; i++) {
    const p = w.scope(`blocks.${i}`);
    x = b.scope(`blocks.${i}`, () => {
      const r = x;
      let y = b.conv(b.relu(x), p.raw('conv1.weight', [c, c, 3, 3]), p.raw('conv1.bias', [c]), {
        kernel: 3,
        pad: 1,
      });
      y = b.conv(b.relu(y), p.raw('conv2.weight', [c, c, 3, 3]), p.raw('conv2.bias', [c]), {
        kernel: 3,
        pad: 1,
      });
      // ECA: the pooled [B,C] vector is a 1-channel signal of length C for a 1-D conv (cross-correlation).
      const pooled = b.reshape(b.reduceMean(y, [2, 3]), [0, 1, c]); // [B, 1, C]
      const conv = b.op1('Conv', [pooled, p.raw('eca.weight', [1, 1, k])], {
        kernel_shape: attrInts([k]),
        pads: attrInts([Math.floor(k / 2), Math.floor(k / 2)]),
        strides: attrInts([1]),
        dilations: attrInts([1]),
        group: attrInt(1),
      });
      const gate = b.reshape(b.sigmoid(conv), [0, c, 1, 1]);
      const out = b.add(b.mul(y, gate), r);
      return b.layerNorm2d(out, norm.scale, norm.bias, ALIGN_LAYER_NORM_EPS);
    });
  }
  b.output(ALIGN_OUTPUT_NAME, x, 'float32', dims);
  return b;
}

/** The Alignment Layer as ONNX bytes: `image_embeddings` [B,C,H,W] → `aligned_embeddings` [B,C,H,W]. */
export function exportAlignmentLayerOnnx(
  sd: StateDict,
  opts: AlignGraphOptions & ModelOptions & SerializeOptions,
): SerializedModel {
  const b = buildAlignGraph(sd, opts);
  return b.serialize({
    ...opts,
    doc: opts.doc ?? `CA-SAM Alignment Layer (C=${opts.channels}), exported by casam-core`,
    metadata: { part: 'alignment_layer', channels: String(opts.channels), ...opts.metadata },
  });
}
