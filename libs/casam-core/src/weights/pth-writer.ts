import { HostDType, HostTensor, numel } from '../tensor/host-tensor';
import { PickleWriter } from './pickle-writer';
import { ZipWriteEntry, writeZip } from './zip-writer';

/** Storage class per dtype, as `torch.save` names it in persistent ids. */
const STORAGE_NAMES: Record<HostDType, string> = {
  float32: 'FloatStorage',
  float16: 'HalfStorage',
  bfloat16: 'BFloat16Storage',
  float64: 'DoubleStorage',
  int64: 'LongStorage',
  int32: 'IntStorage',
  uint8: 'ByteStorage',
  bool: 'BoolStorage',
};

/** One tensor as a strided view of a storage; `writePthRaw` lets specs describe non-contiguous layouts. */
export interface PthTensorSpec {
  storageKey: string;
  storageOffset: number;
  size: number[];
  stride: number[];
}

export interface PthStorageSpec {
  dtype: HostDType;
  /** Little-endian element bytes. */
  bytes: Uint8Array;
}

export interface WritePthOptions {
  /** The top folder inside the zip (torch uses "archive" or the file stem). Default "archive". */
  archiveName?: string;
  /**
   * Wrap the state dict as `{key: sd}` (like training checkpoints do) instead of writing it bare.
   */
  wrapUnder?: string;
}

/** Emits `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())` the way torch.save does. */
function emitTensor(w: PickleWriter, t: PthTensorSpec, storage: PthStorageSpec, elementBytes: number): void {
  w.global('torch._utils', '_rebuild_tensor_v2').mark();
  w.mark().str('storage').global('torch', STORAGE_NAMES[storage.dtype]).str(t.storageKey).str('cpu');
  w.int(storage.bytes.byteLength / elementBytes)
    .tuple()
    .binpersid();
  w.int(t.storageOffset).mark();
  for (const s of t.size) w.int(s);
  w.tuple().mark();
  for (const s of t.stride) w.int(s);
  w.tuple().bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
}

const ELEMENT_BYTES: Record<HostDType, number> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  uint8: 1,
  bool: 1,
};

/** Writes a torch-format zip from explicit storages and strided tensor views (for specs and tooling). */
export function writePthRaw(
  storages: Map<string, PthStorageSpec>,
  tensors: [string, PthTensorSpec][],
  opts: WritePthOptions = {},
): Uint8Array {
  const archive = opts.archiveName ?? 'archive';
  const w = new PickleWriter().proto(2);
  if (opts.wrapUnder !== undefined) w.emptyDict().str(opts.wrapUnder);
  w.global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  for (const [name, t] of tensors) {
    const st = storages.get(t.storageKey);
    if (!st) throw new Error(`writePthRaw: tensor ${name} references unknown storage ${t.storageKey}`);
    w.str(name);
    emitTensor(w, t, st, ELEMENT_BYTES[st.dtype]);
  }
  w.setitems();
  if (opts.wrapUnder !== undefined) w.setitem().str('epoch').int(3).setitem(); // {"model": sd, "epoch": 3}
  w.stop();
  const entries: ZipWriteEntry[] = [{ name: `${archive}/data.pkl`, data: w.bytes() }];
  entries.push({ name: `${archive}/byteorder`, data: new TextEncoder().encode('little') });
  for (const [key, st] of storages) entries.push({ name: `${archive}/data/${key}`, data: st.bytes });
  entries.push({ name: `${archive}/version`, data: new TextEncoder().encode('3\n') });
  return writeZip(entries, { align: 64 });
}

/** Serialises a state dict (contiguous tensors, in order) as a `torch.save`-compatible `.pth` zip. */
export function writePth(tensors: Iterable<[string, HostTensor]>, opts: WritePthOptions = {}): Uint8Array {
  const storages = new Map<string, PthStorageSpec>();
  const views: [string, PthTensorSpec][] = [];
  for (const [name, t] of tensors) {
    const key = String(storages.size);
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (bytes.byteLength !== numel(t.shape) * ELEMENT_BYTES[t.dtype])
      throw new Error(`writePth: tensor ${name} data length does not match shape [${t.shape}]`);
    storages.set(key, { dtype: t.dtype, bytes });
    const stride: number[] = [];
    let acc = 1;
    for (let i = t.shape.length - 1; i >= 0; i--) {
      stride.unshift(acc);
      acc *= t.shape[i];
    }
    views.push([name, { storageKey: key, storageOffset: 0, size: [...t.shape], stride }]);
  }
  return writePthRaw(storages, views, opts);
}
