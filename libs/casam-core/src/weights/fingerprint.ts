import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import { HostDType, StateDict, toFloat32 } from '../tensor/host-tensor';

const FLOAT_DTYPES: ReadonlySet<HostDType> = new Set(['float32', 'float16', 'bfloat16', 'float64']);

/**
 * "sha256:<hex>" identifying the weights, independent of the container: the federation pins the base model by
 * it, so the same weights as .pth or .safetensors, in any tensor order, must hash alike.
 *
 * Canonical encoding (v1), all integers little-endian:
 *   "casam-state-dict-v1\0", u32 tensor count, then per tensor in UTF-8 byte order of the names:
 *   u32 name length, name bytes, u8 dtype length, dtype, u32 ndim, u64 per dim, u64 data length, data.
 * Floating-point tensors are hashed as "float32" with their float32 values (the precision the models run in,
 * so an f16 checkpoint and its f32 conversion agree); other dtypes keep their own dtype and raw bytes.
 */
export function stateDictFingerprint(sd: StateDict): string {
  if (endianness() !== 'LE') throw new Error('stateDictFingerprint assumes a little-endian host');
  const enc = new TextEncoder();
  const names = [...sd.keys()].map((n) => ({ n, b: Buffer.from(enc.encode(n)) }));
  names.sort((a, b) => Buffer.compare(a.b, b.b));
  const h = createHash('sha256');
  h.update('casam-state-dict-v1\0');
  h.update(u32(names.length));
  for (const { n, b } of names) {
    const t = sd.get(n)!;
    const isFloat = FLOAT_DTYPES.has(t.dtype);
    const dtype = enc.encode(isFloat ? 'float32' : t.dtype);
    const data = isFloat ? toFloat32(t) : t.data;
    h.update(u32(b.byteLength));
    h.update(b);
    h.update(Uint8Array.of(dtype.byteLength));
    h.update(dtype);
    h.update(u32(t.shape.length));
    for (const d of t.shape) h.update(u64(d));
    h.update(u64(data.byteLength));
    h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return 'sha256:' + h.digest('hex');
}

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

function u64(v: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
  return b;
}
