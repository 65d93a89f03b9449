/**
 * Tensors travel as `{dtype, shape, data}` with raw little-endian bytes, never as nested number arrays.
 * This lib depends on nothing, so it works on plain Uint8Array and base64 strings.
 */
export type WireDType = 'float32' | 'int32' | 'uint8';

export interface TensorPayload {
  dtype: WireDType;
  shape: number[];
  /** Raw little-endian bytes. */
  data: Uint8Array;
}

/** JSON-safe form: bytes as base64. */
export interface TensorPayloadJson {
  dtype: WireDType;
  shape: number[];
  data: string;
}

const BYTES: Record<WireDType, number> = { float32: 4, int32: 4, uint8: 1 };

export class TensorPayloadError extends Error {
  override name = 'TensorPayloadError';
}

export function validateTensorPayload(p: TensorPayload): void {
  if (!(p.dtype in BYTES)) throw new TensorPayloadError(`unsupported dtype ${String(p.dtype)}`);
  if (!Array.isArray(p.shape) || !p.shape.every((d) => Number.isInteger(d) && d >= 0))
    throw new TensorPayloadError(`shape must be non-negative integers, got ${JSON.stringify(p.shape)}`);
  const n = p.shape.reduce((a, b) => a * b, 1) * BYTES[p.dtype];
  if (p.data.byteLength !== n)
    throw new TensorPayloadError(`shape [${p.shape}] ${p.dtype} needs ${n} bytes, got ${p.data.byteLength}`);
}

export function encodeTensorPayloadJson(p: TensorPayload): TensorPayloadJson {
  validateTensorPayload(p);
  return {
    dtype: p.dtype,
    shape: [...p.shape],
    data: Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength).toString('base64'),
  };
}

export function decodeTensorPayloadJson(j: TensorPayloadJson): TensorPayload {
  if (typeof j?.data !== 'string')
    throw new TensorPayloadError('tensor payload data must be a base64 string');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(j.data))
    throw new TensorPayloadError('tensor payload data is not valid base64');
  const data = new Uint8Array(Buffer.from(j.data, 'base64'));
  const p: TensorPayload = { dtype: j.dtype, shape: j.shape, data };
  validateTensorPayload(p);
  return p;
}
