import { HostTensor, StateDict, numel, typedArrayFor } from '../tensor/host-tensor';
import { PickleDict, PickleValue, TorchTensorRef, describe, unpickle } from './unpickler';
import { ReadEntryOptions, ZipArchive, isZip, openZip } from './zip-reader';

/**
 * Reads `torch.save` checkpoints (PyTorch >= 1.6 zip format) in pure TypeScript.
 *
 * Layout: `<archive>/data.pkl` is a pickle whose tensors reference storages by persistent id
 * ('storage', type, key, location, numel); each storage's raw little-endian bytes are the zip entry
 * `<archive>/data/<key>`.
 *
 * Copy rules (a vit_b .pth is 375 MB, vit_h 2.5 GB): torch stores entries uncompressed, so storages are
 * `subarray` views of the input buffer; each tensor is then copied exactly once into its own aligned buffer
 * (strided views are gathered during that same copy). The result does not pin the input, which can be dropped.
 * Only deflated entries (never written by torch) cost an extra inflate allocation.
 */

export class PthError extends Error {
  override name = 'PthError';
}

/** A pre-1.6 torch checkpoint (raw pickle stream or tar), which this reader does not support. */
export class LegacyTorchFormatError extends PthError {
  override name = 'LegacyTorchFormatError';
  constructor() {
    super(
      'this is a legacy (pre-1.6, non-zip) PyTorch checkpoint, which is not supported: re-save it with a modern ' +
        'torch (torch.save(torch.load(f), "out.pth")) or convert it to safetensors',
    );
  }
}

export type ReadPthOptions = ReadEntryOptions;

/** torch's legacy MAGIC_NUMBER 0x1950a86a20f9469cfc6c, pickled first as LONG1 with 10 little-endian bytes. */
const LEGACY_MAGIC = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/** True for the legacy torch formats: a pickle stream that starts with torch's magic number, or a tar archive. */
export function isLegacyTorch(buf: Uint8Array): boolean {
  if (buf.byteLength >= 14 && buf[0] === 0x80 && LEGACY_MAGIC.every((b, i) => buf[2 + i] === b)) return true;
  return buf.byteLength >= 262 && String.fromCharCode(...buf.subarray(257, 262)) === 'ustar';
}

/** Parses a `.pth` buffer into a state dict (tensor name → tensor, in file order). */
export function readPth(buf: Uint8Array, opts: ReadPthOptions = {}): StateDict {
  if (!isZip(buf)) {
    if (isLegacyTorch(buf)) throw new LegacyTorchFormatError();
    throw new PthError('not a PyTorch checkpoint: no ZIP signature at the start of the file');
  }
  const zip = openZip(buf);
  const pkl = findDataPkl(zip);
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const byteorder = zip.get(prefix + 'byteorder');
  const bigEndian = byteorder ? new TextDecoder().decode(zip.read(byteorder, opts)).trim() === 'big' : false;
  const root = unpickle(zip.read(pkl, opts));
  const dict = selectStateDict(root);

  const storages = new Map<string, Uint8Array>();
  const out: StateDict = new Map();
  for (const [name, ref] of dict.items) {
    if (typeof name !== 'string' || !(ref instanceof TorchTensorRef))
      throw new PthError(`state dict entry ${String(name)} is ${describe(ref)}, not a tensor`);
    const st = ref.storage;
    let bytes = storages.get(st.key);
    if (!bytes) {
      const entry = zip.get(`${prefix}data/${st.key}`);
      if (!entry)
        throw new PthError(
          `tensor ${name}: storage entry ${prefix}data/${st.key} is missing from the archive`,
        );
      bytes = zip.read(entry, opts);
      const needed = st.numel * st.type.elementBytes;
      if (bytes.byteLength < needed)
        throw new PthError(
          `storage ${prefix}data/${st.key} has ${bytes.byteLength} bytes, its ${st.numel} elements need ${needed}`,
        );
      storages.set(st.key, bytes);
    }
    out.set(name, materialize(name, ref, bytes, bigEndian));
  }
  return out;
}

function findDataPkl(zip: ZipArchive): string {
  // torch writes `<archive>/data.pkl` (archive = "archive" or the saved file's stem); nested ones belong to
  // other formats, e.g. TorchScript's `<archive>/constants.pkl` sits next to code we never run.
  const candidates = zip.entries.map((e) => e.name).filter((n) => /^([^/]+\/)?data\.pkl$/.test(n));
  if (candidates.length === 0)
    throw new PthError('ZIP archive has no <archive>/data.pkl entry, so it is not a torch.save checkpoint');
  if (candidates.length > 1)
    throw new PthError(`ZIP archive has several data.pkl entries (${candidates.join(', ')})`);
  return candidates[0];
}

function isTensorDict(d: PickleDict): boolean {
  for (const [k, v] of d.items) if (typeof k !== 'string' || !(v instanceof TorchTensorRef)) return false;
  return true;
}

/**
 * The state dict itself, or one wrapped under "model" / "state_dict": fine-tuned SAM checkpoints (MedSAM and
 * most training scripts) save `{"model": sd, "optimizer": ..., "epoch": ...}` rather than the bare state dict.
 */
function selectStateDict(root: PickleValue): PickleDict {
  if (root instanceof PickleDict) {
    if (isTensorDict(root)) return root;
    for (const key of ['model', 'state_dict']) {
      const v = root.items.get(key);
      if (v instanceof PickleDict && isTensorDict(v)) return v;
    }
    const keys = [...root.items.keys()].slice(0, 10).map(String).join(', ');
    throw new PthError(
      `checkpoint is a dict that is neither a state dict of tensors nor wraps one under "model"/"state_dict" (keys: ${keys})`,
    );
  }
  throw new PthError(`checkpoint holds ${describe(root)}, not a state dict`);
}

/** 4 GiB: the largest typed array Node 20 allocates; far above any single SAM tensor (vit_h's largest is 26 MB). */
const MAX_TENSOR_BYTES = 2 ** 32;

function contiguousStrides(size: number[]): number[] {
  const s = new Array<number>(size.length);
  let acc = 1;
  for (let i = size.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= size[i];
  }
  return s;
}

/** Copies the strided view `ref` out of its storage bytes into a fresh contiguous tensor. */
function materialize(name: string, ref: TorchTensorRef, bytes: Uint8Array, bigEndian: boolean): HostTensor {
  const { size, stride, storageOffset: off } = ref;
  const es = ref.storage.type.elementBytes;
  const n = numel(size);
  // Stride-0 views can claim far more elements than their storage holds; refuse absurd sizes up front.
  if (n * es > MAX_TENSOR_BYTES)
    throw new PthError(
      `tensor ${name}: size [${size}] needs ${n * es} bytes, over the ${MAX_TENSOR_BYTES}-byte limit`,
    );
  const out = new Uint8Array(n * es);
  if (n > 0) {
    let last = off;
    for (let i = 0; i < size.length; i++) last += (size[i] - 1) * stride[i];
    if (last >= ref.storage.numel)
      throw new PthError(
        `tensor ${name}: view (offset ${off}, size [${size}], stride [${stride}]) reaches element ${last} of a ` +
          `${ref.storage.numel}-element storage`,
      );
    const cs = contiguousStrides(size);
    // Size-1 dims may carry any stride without changing the layout (torch treats them so too).
    const contiguous = size.every((d, i) => d === 1 || stride[i] === cs[i]);
    if (contiguous) out.set(bytes.subarray(off * es, (off + n) * es));
    else gather(out, bytes, es, off, size, stride);
  }
  if (bigEndian && es > 1) {
    for (let i = 0; i < out.length; i += es) out.subarray(i, i + es).reverse();
  }
  const dtype = ref.storage.type.dtype;
  return { dtype, shape: [...size], data: typedArrayFor(dtype, out.buffer) };
}

/** Row-by-row gather of a non-contiguous view; rows with unit inner stride are block copies. */
function gather(
  out: Uint8Array,
  src: Uint8Array,
  es: number,
  off: number,
  size: number[],
  stride: number[],
): void {
  const d = size.length;
  const inner = size[d - 1];
  const innerStride = stride[d - 1];
  const idx = new Array<number>(d - 1).fill(0);
  let o = 0;
  for (;;) {
    let base = off;
    for (let k = 0; k < d - 1; k++) base += idx[k] * stride[k];
    if (innerStride === 1) {
      out.set(src.subarray(base * es, (base + inner) * es), o);
      o += inner * es;
    } else {
      for (let j = 0; j < inner; j++) {
        const s = (base + j * innerStride) * es;
        for (let b = 0; b < es; b++) out[o++] = src[s + b];
      }
    }
    let k = d - 2;
    while (k >= 0 && ++idx[k] === size[k]) idx[k--] = 0;
    if (k < 0) return;
  }
}
