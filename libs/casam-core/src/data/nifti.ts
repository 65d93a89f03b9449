/**
 * NIfTI-1 single-file volumes (`.nii`, `.nii.gz`): reading (both byte orders, the common integer and float
 * datatypes, scl_slope/scl_inter, up to 4-D with the first volume used), a small writer for tests and
 * tools, and slicing into windowed 8-bit images with per-label masks.
 */
import { constants, gunzipSync, gzipSync } from 'node:zlib';

export class NiftiError extends Error {
  override name = 'NiftiError';
}
/** The file ends before its header or voxel data does. */
export class NiftiTruncatedError extends NiftiError {
  override name = 'NiftiTruncatedError';
}
/** A valid file this reader does not handle (NIfTI-2, two-file pairs, complex or RGB data, 5-D…). */
export class NiftiUnsupportedError extends NiftiError {
  override name = 'NiftiUnsupportedError';
}

export type NiftiDatatype =
  'uint8' | 'int8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64';

const CODE_TO_TYPE: Record<number, NiftiDatatype> = {
  2: 'uint8',
  4: 'int16',
  8: 'int32',
  16: 'float32',
  64: 'float64',
  256: 'int8',
  512: 'uint16',
  768: 'uint32',
};
const TYPE_TO_CODE = Object.fromEntries(
  Object.entries(CODE_TO_TYPE).map(([k, v]) => [v, Number(k)]),
) as Record<NiftiDatatype, number>;
const BYTES: Record<NiftiDatatype, number> = {
  uint8: 1,
  int8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  float32: 4,
  float64: 8,
};
/** Datatype codes that are valid NIfTI but not handled here, named for the error message. */
const UNSUPPORTED_CODES: Record<number, string> = {
  1: 'binary',
  32: 'complex64',
  128: 'RGB24',
  1024: 'int64',
  1280: 'uint64',
  1536: 'float128',
  1792: 'complex128',
  2048: 'complex256',
  2304: 'RGBA32',
};

const HEADER_SIZE = 348;
const MAX_VOXELS = 512 * 1024 * 1024;
/** Most bytes a `.nii.gz` may inflate to (all volumes): bounds the memory a small file can claim. */
export const MAX_DECODED_BYTES = 2 * 2 ** 30;

export interface NiftiVolume {
  /** Voxels along i, j, k (x fastest in `data`). */
  dims: [number, number, number];
  /** Number of volumes in the file (4th dimension); only the first is read. */
  volumes: number;
  /** Voxel size along i, j, k (absolute, as stored; units per xyzt_units). */
  pixdim: [number, number, number];
  datatype: NiftiDatatype;
  littleEndian: boolean;
  sclSlope: number;
  sclInter: number;
  /** The first volume with scaling applied, index = i + nx·(j + ny·k). */
  data: Float32Array;
}

function isGzip(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/** Header fields readNifti needs, from the first 348+ bytes. */
interface NiftiHeader {
  le: boolean;
  nx: number;
  ny: number;
  nz: number;
  volumes: number;
  pixdim: [number, number, number];
  datatype: NiftiDatatype;
  voxOffset: number;
  sclSlope: number;
  sclInter: number;
  nvox: number;
  bpv: number;
}

function readHeader(buf: Uint8Array, name: string): NiftiHeader {
  if (buf.length < HEADER_SIZE)
    throw new NiftiTruncatedError(
      `${name}: ${buf.length} bytes is shorter than the ${HEADER_SIZE}-byte NIfTI-1 header`,
    );
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let le: boolean;
  if (dv.getInt32(0, true) === HEADER_SIZE) le = true;
  else if (dv.getInt32(0, false) === HEADER_SIZE) le = false;
  else if (dv.getInt32(0, true) === 540 || dv.getInt32(0, false) === 540)
    throw new NiftiUnsupportedError(`${name}: NIfTI-2 files are not supported; save as NIfTI-1`);
  else throw new NiftiError(`${name}: not a NIfTI-1 file (header size field is not 348)`);
  const magic = String.fromCharCode(buf[344], buf[345], buf[346]);
  if (magic === 'ni1')
    throw new NiftiUnsupportedError(
      `${name}: two-file NIfTI (.hdr + .img) is not supported; save as a single .nii`,
    );
  if (magic !== 'n+1' || buf[347] !== 0)
    throw new NiftiError(`${name}: missing the NIfTI-1 magic 'n+1' (an ANALYZE file or a corrupt header)`);
  const dim: number[] = [];
  for (let k = 0; k < 8; k++) dim.push(dv.getInt16(40 + 2 * k, le));
  const ndim = dim[0];
  if (ndim < 1 || ndim > 7) throw new NiftiError(`${name}: corrupt header, dim[0] = ${ndim} (must be 1..7)`);
  for (let k = 1; k <= ndim; k++)
    if (dim[k] < 1) throw new NiftiError(`${name}: corrupt header, dim[${k}] = ${dim[k]} (must be ≥ 1)`);
  for (let k = 5; k <= ndim; k++)
    if (dim[k] > 1)
      throw new NiftiUnsupportedError(
        `${name}: ${ndim}-D data (dim[${k}] = ${dim[k]}) is not supported; up to 4-D`,
      );
  const nx = dim[1];
  const ny = ndim >= 2 ? dim[2] : 1;
  const nz = ndim >= 3 ? dim[3] : 1;
  const volumes = ndim >= 4 ? dim[4] : 1;
  const code = dv.getInt16(70, le);
  const datatype = CODE_TO_TYPE[code];
  if (!datatype) {
    const known = UNSUPPORTED_CODES[code];
    if (known) throw new NiftiUnsupportedError(`${name}: datatype ${known} (code ${code}) is not supported`);
    throw new NiftiError(`${name}: unknown datatype code ${code}`);
  }
  const bitpix = dv.getInt16(72, le);
  if (bitpix !== BYTES[datatype] * 8)
    throw new NiftiError(`${name}: corrupt header, bitpix ${bitpix} does not match datatype ${datatype}`);
  const pixdim: [number, number, number] = [1, 2, 3].map(
    (k) => Math.abs(dv.getFloat32(76 + 4 * k, le)) || 1,
  ) as [number, number, number];
  const voxOffset = dv.getFloat32(108, le);
  if (!Number.isFinite(voxOffset) || voxOffset < HEADER_SIZE || voxOffset !== Math.floor(voxOffset))
    throw new NiftiError(`${name}: corrupt header, vox_offset ${voxOffset}`);
  let sclSlope = dv.getFloat32(112, le);
  let sclInter = dv.getFloat32(116, le);
  // Per the standard, a zero (or unusable) slope means the values are stored unscaled.
  if (!Number.isFinite(sclSlope) || sclSlope === 0) {
    sclSlope = 1;
    sclInter = 0;
  } else if (!Number.isFinite(sclInter)) sclInter = 0;
  const nvox = nx * ny * nz;
  if (nvox > MAX_VOXELS)
    throw new NiftiUnsupportedError(`${name}: ${nx}×${ny}×${nz} voxels is more than this reader handles`);
  const bpv = BYTES[datatype];
  return { le, nx, ny, nz, volumes, pixdim, datatype, voxOffset, sclSlope, sclInter, nvox, bpv };
}

/**
 * Inflates a `.nii.gz` without trusting it: the header is read from a small inflated prefix first, and the
 * whole stream may then inflate to at most what that header declares (all volumes) and never past
 * MAX_DECODED_BYTES. A few kilobytes of gzip can otherwise inflate to gigabytes (a decompression bomb).
 */
function gunzipBounded(input: Uint8Array, name: string): Uint8Array {
  const fail = (e: unknown): never => {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE')
      throw new NiftiError(`${name}: gzip data inflates to more than its header declares (refused)`);
    if (/unexpected end/i.test(err.message))
      throw new NiftiTruncatedError(`${name}: gzip stream is truncated`);
    throw new NiftiError(`${name}: corrupt gzip data (${err.message})`);
  };
  let prefix: Uint8Array;
  try {
    // 4 KiB of deflate inflates to at most ~4 MiB; Z_SYNC_FLUSH returns what a partial stream gives.
    prefix = gunzipSync(input.subarray(0, 4096), {
      finishFlush: constants.Z_SYNC_FLUSH,
      maxOutputLength: 8 * 2 ** 20,
    });
  } catch (e) {
    return fail(e);
  }
  const h = readHeader(new Uint8Array(prefix.buffer, prefix.byteOffset, prefix.byteLength), name);
  const declared = h.voxOffset + h.nvox * h.volumes * h.bpv;
  if (declared > MAX_DECODED_BYTES)
    throw new NiftiUnsupportedError(
      `${name}: ${h.nx}×${h.ny}×${h.nz}×${h.volumes} ${h.datatype} voxels (${declared} bytes inflated) is more than ` +
        `this reader inflates (${MAX_DECODED_BYTES} bytes); split the file or save the first volume alone`,
    );
  try {
    return new Uint8Array(gunzipSync(input, { maxOutputLength: Math.max(declared, HEADER_SIZE) }));
  } catch (e) {
    return fail(e);
  }
}

/** Parses a `.nii` or `.nii.gz` file's bytes. */
export function readNifti(input: Uint8Array, name = 'volume'): NiftiVolume {
  const buf = isGzip(input) ? gunzipBounded(input, name) : input;
  const { le, nx, ny, nz, volumes, pixdim, datatype, voxOffset, sclSlope, sclInter, nvox, bpv } = readHeader(
    buf,
    name,
  );
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const need = voxOffset + nvox * bpv;
  if (buf.length < need)
    throw new NiftiTruncatedError(
      `${name}: truncated, voxel data needs ${need} bytes but the file has ${buf.length}`,
    );
  const data = new Float32Array(nvox);
  const o = voxOffset;
  const get: (p: number) => number = {
    uint8: (p: number) => dv.getUint8(p),
    int8: (p: number) => dv.getInt8(p),
    int16: (p: number) => dv.getInt16(p, le),
    uint16: (p: number) => dv.getUint16(p, le),
    int32: (p: number) => dv.getInt32(p, le),
    uint32: (p: number) => dv.getUint32(p, le),
    float32: (p: number) => dv.getFloat32(p, le),
    float64: (p: number) => dv.getFloat64(p, le),
  }[datatype];
  for (let i = 0; i < nvox; i++) data[i] = get(o + i * bpv) * sclSlope + sclInter;
  return { dims: [nx, ny, nz], volumes, pixdim, datatype, littleEndian: le, sclSlope, sclInter, data };
}

export interface WriteNiftiOptions {
  /** 1 to 4 dimensions. */
  dims: readonly number[];
  datatype: NiftiDatatype;
  /** Stored (unscaled) values, x fastest, all volumes. */
  data: ArrayLike<number>;
  pixdim?: readonly number[];
  sclSlope?: number;
  sclInter?: number;
  littleEndian?: boolean;
  gzip?: boolean;
}

/** A minimal NIfTI-1 single file (352-byte header + data). Enough for tests and exporting slices' sources. */
export function writeNifti(o: WriteNiftiOptions): Uint8Array {
  if (
    o.dims.length < 1 ||
    o.dims.length > 4 ||
    o.dims.some((d) => !Number.isInteger(d) || d < 1 || d > 32767)
  )
    throw new NiftiError(`dims must be 1 to 4 integers in 1..32767, got [${o.dims.join(', ')}]`);
  const nvox = o.dims.reduce((a, b) => a * b, 1);
  if (o.data.length !== nvox) throw new NiftiError(`data has ${o.data.length} values, dims need ${nvox}`);
  const le = o.littleEndian ?? true;
  const bpv = BYTES[o.datatype];
  const buf = new Uint8Array(352 + nvox * bpv);
  const dv = new DataView(buf.buffer);
  dv.setInt32(0, HEADER_SIZE, le);
  dv.setInt16(40, o.dims.length, le);
  o.dims.forEach((d, k) => dv.setInt16(42 + 2 * k, d, le));
  for (let k = o.dims.length + 1; k < 8; k++) dv.setInt16(40 + 2 * k, 1, le);
  dv.setInt16(70, TYPE_TO_CODE[o.datatype], le);
  dv.setInt16(72, bpv * 8, le);
  dv.setFloat32(76, 1, le); // qfac
  for (let k = 1; k < 8; k++) dv.setFloat32(76 + 4 * k, o.pixdim?.[k - 1] ?? 1, le);
  dv.setFloat32(108, 352, le);
  dv.setFloat32(112, o.sclSlope ?? 0, le);
  dv.setFloat32(116, o.sclInter ?? 0, le);
  dv.setUint8(123, 10); // xyzt_units: mm, s
  buf.set([0x6e, 0x2b, 0x31, 0], 344); // 'n+1\0'
  const set: (p: number, v: number) => void = {
    uint8: (p: number, v: number) => dv.setUint8(p, v),
    int8: (p: number, v: number) => dv.setInt8(p, v),
    int16: (p: number, v: number) => dv.setInt16(p, v, le),
    uint16: (p: number, v: number) => dv.setUint16(p, v, le),
    int32: (p: number, v: number) => dv.setInt32(p, v, le),
    uint32: (p: number, v: number) => dv.setUint32(p, v, le),
    float32: (p: number, v: number) => dv.setFloat32(p, v, le),
    float64: (p: number, v: number) => dv.setFloat64(p, v, le),
  }[o.datatype];
  for (let i = 0; i < nvox; i++) set(352 + i * bpv, o.data[i]);
  return o.gzip ? new Uint8Array(gzipSync(buf)) : buf;
}

/** The p-th and q-th volumePercentiles (0..100) of the finite values, from a 65536-bin histogram. */
export function volumePercentiles(data: Float32Array, p: number, q: number): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
    n++;
  }
  if (n === 0) return [0, 1];
  if (max === min) return [min, min];
  const bins = 65536;
  const hist = new Uint32Array(bins);
  const k = (bins - 1) / (max - min);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (Number.isFinite(v)) hist[Math.floor((v - min) * k)]++;
  }
  const at = (pct: number): number => {
    const target = (pct / 100) * n;
    let acc = 0;
    for (let b = 0; b < bins; b++) {
      acc += hist[b];
      if (acc >= target) return min + b / k;
    }
    return max;
  };
  return [at(p), at(q)];
}

export interface SliceOptions {
  /** Voxel axis the slices are taken across: 2 (k, axial in most scans), 1 or 0. */
  axis?: 0 | 1 | 2;
  /** Intensity window mapped to 0..255; 'auto' = 0.5th..99.5th percentile of the whole volume. */
  window?: 'auto' | readonly [number, number];
  /** Per label, fewer foreground pixels than this in a slice drop that label's mask there. Default 1. */
  minForeground?: number;
  /** Keep slices where no label remains (default false: they teach a prompt-driven model nothing). */
  keepEmpty?: boolean;
  /** Only these label values (default: every non-zero value in the label volume). */
  labels?: readonly number[];
}

export interface VolumeSlice {
  /** Voxel index along `axis`. */
  index: number;
  width: number;
  height: number;
  /** Windowed grey, row-major. */
  image: Uint8Array;
  masks: { label: number; data: Uint8Array }[];
}

export interface SlicedVolume {
  axis: 0 | 1 | 2;
  window: [number, number];
  /** Label values present in the label volume (after `labels` filtering), ascending. */
  labels: number[];
  slices: VolumeSlice[];
}

export class SliceOptionsError extends NiftiError {
  override name = 'SliceOptionsError';
}

/**
 * Cuts a volume (and its label volume) into 2-D slices. A slice's columns follow the first remaining voxel
 * axis and its rows the second, bottom row first (so volumes stored in RAS-like order show upright).
 */
export function sliceVolume(
  image: NiftiVolume,
  labels: NiftiVolume | undefined,
  opts: SliceOptions = {},
): SlicedVolume {
  const axis = opts.axis ?? 2;
  if (axis !== 0 && axis !== 1 && axis !== 2)
    throw new SliceOptionsError(`axis must be 0, 1 or 2, got ${String(axis)}`);
  const minFg = opts.minForeground ?? 1;
  if (!Number.isInteger(minFg) || minFg < 1)
    throw new SliceOptionsError(`minForeground must be an integer ≥ 1, got ${minFg}`);
  const [nx, ny, nz] = image.dims;
  if (labels && (labels.dims[0] !== nx || labels.dims[1] !== ny || labels.dims[2] !== nz))
    throw new NiftiError(`label volume is ${labels.dims.join('×')} but the image is ${image.dims.join('×')}`);
  let window: [number, number];
  if (opts.window === undefined || opts.window === 'auto') window = volumePercentiles(image.data, 0.5, 99.5);
  else {
    const [a, b] = opts.window;
    if (!Number.isFinite(a) || !Number.isFinite(b) || !(b > a))
      throw new SliceOptionsError(`window must be [low, high] with high > low, got [${a}, ${b}]`);
    window = [a, b];
  }
  const [lo, hi] = window;
  const scale = hi > lo ? 255 / (hi - lo) : 0;

  const present = new Set<number>();
  if (labels)
    for (let i = 0; i < labels.data.length; i++) {
      const v = Math.round(labels.data[i]);
      if (v !== 0 && Number.isFinite(v)) present.add(v);
    }
  let labelList = [...present].sort((a, b) => a - b);
  if (opts.labels) labelList = labelList.filter((l) => opts.labels?.includes(l));
  const labelIndex = new Map(labelList.map((l, k) => [l, k]));

  // Axis a is sliced; (u, v) are the remaining axes in order; stride gives the data index step of each.
  const n = [nx, ny, nz];
  const stride = [1, nx, nx * ny];
  const [ua, va] = [0, 1, 2].filter((k) => k !== axis);
  const width = n[ua];
  const height = n[va];
  const slices: VolumeSlice[] = [];
  for (let s = 0; s < n[axis]; s++) {
    const img = new Uint8Array(width * height);
    const masks = labelList.map(() => new Uint8Array(width * height));
    const counts = new Array<number>(labelList.length).fill(0);
    for (let v = 0; v < height; v++) {
      const row = height - 1 - v;
      for (let u = 0; u < width; u++) {
        const idx = s * stride[axis] + u * stride[ua] + v * stride[va];
        const p = row * width + u;
        const x = image.data[idx];
        const g = Number.isFinite(x) ? (x - lo) * scale : 0;
        img[p] = g <= 0 ? 0 : g >= 255 ? 255 : Math.round(g);
        if (labels) {
          const k = labelIndex.get(Math.round(labels.data[idx]));
          if (k !== undefined) {
            masks[k][p] = 1;
            counts[k]++;
          }
        }
      }
    }
    const kept = labelList
      .map((label, k) => ({ label, data: masks[k], count: counts[k] }))
      .filter((m) => m.count >= minFg)
      .map(({ label, data }) => ({ label, data }));
    if (kept.length === 0 && !opts.keepEmpty) continue;
    slices.push({ index: s, width, height, image: img, masks: kept });
  }
  return { axis, window, labels: labelList, slices };
}
