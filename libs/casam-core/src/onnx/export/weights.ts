/**
 * Reading official-named PyTorch-layout weights for the exporter: each accessor checks the shape it expects,
 * so a state dict that does not fit the graph fails with the tensor's name, and returns float32 data in the
 * layout the ONNX operator wants (ONNX Conv/ConvTranspose share PyTorch's layouts; MatMul wants Linear weights
 * transposed to [in,out]).
 */
import { StateDict, shapeEquals, toFloat32 } from '../../tensor/host-tensor';
import { GraphBuilder, OnnxExportError } from './onnx-builder';

/** [rows, cols] → [cols, rows]. */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

export class ExportWeights {
  constructor(
    private readonly sd: StateDict,
    private readonly b: GraphBuilder,
    private readonly prefix = '',
  ) {}

  scope(sub: string): ExportWeights {
    return new ExportWeights(this.sd, this.b, this.prefix + sub + '.');
  }

  /** The full official name of `name` under this scope (for naming derived initializers). */
  prefixName(name: string): string {
    return this.prefix + name;
  }

  has(name: string): boolean {
    return this.sd.has(this.prefix + name);
  }

  /** The float32 values of `name`, whose PyTorch shape must be `shape`. */
  data(name: string, shape: readonly number[]): Float32Array {
    const full = this.prefix + name;
    const t = this.sd.get(full);
    if (!t) throw new OnnxExportError(`missing weight ${full}`);
    if (!shapeEquals(t.shape, shape))
      throw new OnnxExportError(`weight ${full} has shape [${t.shape}], the graph needs [${shape}]`);
    return toFloat32(t);
  }

  /** The weight as an initializer, in its PyTorch layout, optionally viewed with other dims (same size). */
  raw(name: string, shape: readonly number[], dims: readonly number[] = shape): string {
    return this.b.weight(this.prefix + name, dims, this.data(name, shape));
  }

  /** nn.Linear → { w: [in,out] initializer, b: [out] initializer (if present) }. */
  linear(name: string, inDim: number, outDim: number): { w: string; b?: string } {
    const w = transpose2d(this.data(`${name}.weight`, [outDim, inDim]), outDim, inDim);
    return {
      w: this.b.weight(`${this.prefix}${name}.weight_t`, [inDim, outDim], w),
      b: this.has(`${name}.bias`) ? this.raw(`${name}.bias`, [outDim]) : undefined,
    };
  }

  /** LayerNorm affine parameters ([C] each; `dims` e.g. [C,1,1] to broadcast over NCHW). */
  norm(name: string, c: number, dims: readonly number[] = [c]): { scale: string; bias: string } {
    return {
      scale: this.raw(`${name}.weight`, [c], dims),
      bias: this.raw(`${name}.bias`, [c], dims),
    };
  }
}
