/** A tensor that lives in host memory, independent of any ML engine. Layouts follow PyTorch (NCHW). */
export type HostDType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'uint8' | 'bool';

export type HostData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array;

export interface HostTensor {
  dtype: HostDType;
  shape: number[];
  data: HostData;
}

/** A checkpoint's tensors by official parameter name, in file order. */
export type StateDict = Map<string, HostTensor>;

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function shapeEquals(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export function float32Tensor(shape: number[], data?: Float32Array): HostTensor {
  const n = numel(shape);
  const d = data ?? new Float32Array(n);
  if (d.length !== n) throw new Error(`float32Tensor: shape [${shape}] needs ${n} values, got ${d.length}`);
  return { dtype: 'float32', shape, data: d };
}

/** Returns float32 data, converting from float16/bfloat16/float64 when a checkpoint stores those. */
export function toFloat32(t: HostTensor): Float32Array {
  switch (t.dtype) {
    case 'float32':
      return t.data as Float32Array;
    case 'float64':
      return Float32Array.from(t.data as Float64Array);
    case 'float16':
      return halfToFloat32(t.data as Uint16Array);
    case 'bfloat16': {
      const src = t.data as Uint16Array;
      const out = new Uint32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = src[i] << 16;
      return new Float32Array(out.buffer);
    }
    default:
      throw new Error(`expected a floating-point tensor, got ${t.dtype}`);
  }
}

function halfToFloat32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const h = src[i];
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    if (e === 0) out[i] = s * 2 ** -14 * (f / 1024);
    else if (e === 31) out[i] = f ? NaN : s * Infinity;
    else out[i] = s * 2 ** (e - 15) * (1 + f / 1024);
  }
  return out;
}

/** The typed array that holds `dtype` values over a whole buffer (16-bit floats stay raw Uint16). */
export function typedArrayFor(dtype: HostDType, b: ArrayBuffer): HostData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(b);
    case 'float64':
      return new Float64Array(b);
    case 'int64':
      return new BigInt64Array(b);
    case 'int32':
      return new Int32Array(b);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(b);
    case 'uint8':
    case 'bool':
      return new Uint8Array(b);
  }
}
