import { HostDType, HostTensor, numel, typedArrayFor } from '../tensor/host-tensor';

/** The safetensors container: 8-byte LE header length, JSON header, raw little-endian data. */
export interface SafetensorsFile {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

const DTYPES: Record<string, { dtype: HostDType; bytes: number }> = {
  F32: { dtype: 'float32', bytes: 4 },
  F16: { dtype: 'float16', bytes: 2 },
  BF16: { dtype: 'bfloat16', bytes: 2 },
  F64: { dtype: 'float64', bytes: 8 },
  I64: { dtype: 'int64', bytes: 8 },
  I32: { dtype: 'int32', bytes: 4 },
  U8: { dtype: 'uint8', bytes: 1 },
  BOOL: { dtype: 'bool', bytes: 1 },
};
const CODES: Record<HostDType, string> = {
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  float64: 'F64',
  int64: 'I64',
  int32: 'I32',
  uint8: 'U8',
  bool: 'BOOL',
};

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

export interface ReadSafetensorsOptions {
  /** Refuse headers larger than this many bytes (defends against hostile files). Default 100 MB. */
  maxHeaderBytes?: number;
}

/** Parses a safetensors buffer. Tensor data is copied, so the result does not pin the input buffer. */
export function readSafetensors(buf: Uint8Array, opts: ReadSafetensorsOptions = {}): SafetensorsFile {
  const maxHeader = opts.maxHeaderBytes ?? 100 * 1024 * 1024;
  if (buf.byteLength < 8) throw new SafetensorsError('not a safetensors file: shorter than 8 bytes');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > maxHeader)
    throw new SafetensorsError(`safetensors header is ${n} bytes, over the ${maxHeader}-byte limit`);
  if (8 + n > buf.byteLength)
    throw new SafetensorsError(`safetensors header length ${n} runs past the end of the file`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + n)));
  } catch (e) {
    throw new SafetensorsError(`safetensors header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header))
    throw new SafetensorsError('safetensors header must be a JSON object');
  const dataStart = 8 + n;
  const dataLen = buf.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const entries: [string, HostTensor, number][] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object')
        throw new SafetensorsError('__metadata__ must be an object');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new SafetensorsError(`__metadata__.${k} must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dt = typeof info?.dtype === 'string' ? DTYPES[info.dtype] : undefined;
    if (!dt) throw new SafetensorsError(`tensor ${name}: unsupported dtype ${JSON.stringify(info?.dtype)}`);
    if (!Array.isArray(info.shape) || !info.shape.every((d) => Number.isInteger(d) && d >= 0))
      throw new SafetensorsError(`tensor ${name}: shape must be a list of non-negative integers`);
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0))
      throw new SafetensorsError(`tensor ${name}: data_offsets must be [begin, end]`);
    const [begin, end] = offs as [number, number];
    const shape = info.shape as number[];
    const expected = numel(shape) * dt.bytes;
    if (end < begin || end > dataLen)
      throw new SafetensorsError(
        `tensor ${name}: data_offsets [${begin}, ${end}] outside the ${dataLen}-byte data`,
      );
    if (end - begin !== expected)
      throw new SafetensorsError(
        `tensor ${name}: shape [${shape}] ${info.dtype} needs ${expected} bytes, offsets give ${end - begin}`,
      );
    // Copy into a fresh ArrayBuffer: aligned, independent of the input. (Buffer#slice would share memory.)
    const bytes = new Uint8Array(end - begin);
    bytes.set(buf.subarray(dataStart + begin, dataStart + end));
    entries.push([name, { dtype: dt.dtype, shape, data: typedArrayFor(dt.dtype, bytes.buffer) }, begin]);
  }
  entries.sort((a, b) => a[2] - b[2]);
  return { tensors: new Map(entries.map(([k, t]) => [k, t])), metadata };
}

/** Serialises tensors (in the given order) with optional string metadata; header padded to 8 bytes. */
export function writeSafetensors(
  tensors: Iterable<[string, HostTensor]>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header['__metadata__'] = metadata;
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') throw new SafetensorsError('a tensor may not be named __metadata__');
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const elemBytes = DTYPES[CODES[t.dtype]].bytes;
    if (bytes.byteLength !== numel(t.shape) * elemBytes)
      throw new SafetensorsError(`tensor ${name}: data length does not match shape [${t.shape}]`);
    header[name] = {
      dtype: CODES[t.dtype],
      shape: t.shape,
      data_offsets: [offset, offset + bytes.byteLength],
    };
    parts.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  let hb = enc.encode(json);
  const pad = (8 - (hb.byteLength % 8)) % 8;
  if (pad) hb = enc.encode((json += ' '.repeat(pad)));
  const out = new Uint8Array(8 + hb.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.byteLength), true);
  out.set(hb, 8);
  let p = 8 + hb.byteLength;
  for (const b of parts) {
    out.set(b, p);
    p += b.byteLength;
  }
  return out;
}
