import { HostDType } from '../tensor/host-tensor';

/**
 * A safe, minimal pickle VM (protocols 0–5, the opcodes `torch.save` and plain containers produce).
 *
 * Safety model: pickle can name any Python callable via GLOBAL/STACK_GLOBAL and call it via REDUCE/NEWOBJ.
 * Here globals are resolved against a fixed allowlist of *data* constructors implemented in TypeScript
 * (OrderedDict, torch tensor/storage rebuilders). Any other global is refused when it is named, before anything
 * could call it, so a hostile checkpoint can at worst produce an error.
 */

export class PickleError extends Error {
  override name = 'PickleError';
}

/** Raised when a pickle names a global outside the allowlist (e.g. `os.system`). */
export class UnsafePickleError extends PickleError {
  override name = 'UnsafePickleError';
  constructor(readonly global: string) {
    super(
      `refusing to load global "${global}": only collections.OrderedDict and PyTorch tensor/storage rebuilders are ` +
        `allowed in a checkpoint` +
        (global.startsWith('__torch__')
          ? ' (this looks like a TorchScript archive from torch.jit.save; save model.state_dict() with torch.save instead)'
          : ''),
    );
  }
}

export type PickleKey = string | number | bigint | boolean | null;

export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | PickleTuple
  | PickleDict
  | PickleGlobal
  | TorchStorageType
  | TorchStorage
  | TorchTensorRef;

export class PickleTuple {
  constructor(readonly items: PickleValue[]) {}
}

/** dict or collections.OrderedDict; insertion order is kept (state_dict order). */
export class PickleDict {
  readonly items = new Map<PickleKey, PickleValue>();
  /** Instance attributes set by BUILD (OrderedDict `_metadata` in state dicts). */
  readonly attrs = new Map<PickleKey, PickleValue>();
  constructor(readonly className = 'dict') {}
}

/** An allowlisted callable named by the pickle. */
export class PickleGlobal {
  constructor(
    readonly qualname: string,
    readonly call: (args: PickleValue[]) => PickleValue,
  ) {}
}

/** A `torch.*Storage` class used as the storage type in a persistent id. */
export class TorchStorageType {
  constructor(
    readonly qualname: string,
    readonly dtype: HostDType,
    readonly elementBytes: number,
  ) {}
}

/** A storage reference from a persistent id; its bytes live in `<archive>/data/<key>`. */
export class TorchStorage {
  constructor(
    readonly type: TorchStorageType,
    readonly key: string,
    readonly location: string,
    readonly numel: number,
  ) {}
}

/** What `_rebuild_tensor_v2` describes: a strided view of a storage (sizes, strides, offset in elements). */
export class TorchTensorRef {
  constructor(
    readonly storage: TorchStorage,
    readonly storageOffset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}

const STORAGE_TYPES: Record<string, [HostDType, number]> = {
  FloatStorage: ['float32', 4],
  HalfStorage: ['float16', 2],
  BFloat16Storage: ['bfloat16', 2],
  DoubleStorage: ['float64', 8],
  LongStorage: ['int64', 8],
  IntStorage: ['int32', 4],
  ByteStorage: ['uint8', 1],
  BoolStorage: ['bool', 1],
};

function intArg(v: PickleValue, what: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  throw new PickleError(`${what} must be a non-negative integer, got ${describe(v)}`);
}

function intTuple(v: PickleValue, what: string): number[] {
  const items = v instanceof PickleTuple ? v.items : Array.isArray(v) ? v : null;
  if (!items) throw new PickleError(`${what} must be a tuple of integers, got ${describe(v)}`);
  return items.map((x, i) => intArg(x, `${what}[${i}]`));
}

function rebuildTensor(fn: string, args: PickleValue[]): TorchTensorRef {
  if (args.length < 4) throw new PickleError(`${fn} expects at least 4 arguments, got ${args.length}`);
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof TorchStorage))
    throw new PickleError(`${fn}: first argument must be a storage, got ${describe(storage)}`);
  const s = intTuple(size, `${fn} size`);
  const st = intTuple(stride, `${fn} stride`);
  if (s.length !== st.length)
    throw new PickleError(`${fn}: size [${s}] and stride [${st}] have different lengths`);
  return new TorchTensorRef(storage, intArg(offset, `${fn} storage_offset`), s, st);
}

function rebuildParameter(fn: string, args: PickleValue[]): TorchTensorRef {
  const data = args[0];
  if (!(data instanceof TorchTensorRef))
    throw new PickleError(`${fn}: expected a tensor, got ${describe(data)}`);
  return data; // requires_grad / hooks / state carry nothing a weight loader needs
}

function newOrderedDict(args: PickleValue[]): PickleDict {
  const d = new PickleDict('collections.OrderedDict');
  if (args.length === 0) return d;
  const src = args[0];
  const pairs = src instanceof PickleTuple ? src.items : Array.isArray(src) ? src : null;
  if (args.length > 1 || !pairs)
    throw new PickleError('collections.OrderedDict: unsupported constructor arguments');
  for (const p of pairs) {
    const kv = p instanceof PickleTuple ? p.items : Array.isArray(p) ? p : null;
    if (!kv || kv.length !== 2)
      throw new PickleError('collections.OrderedDict: items must be (key, value) pairs');
    d.items.set(asKey(kv[0]), kv[1]);
  }
  return d;
}

/** The allowlist. Values are callables or storage classes; everything else is refused by name. */
function resolveGlobal(module: string, name: string): PickleValue {
  const q = `${module}.${name}`;
  if (q === 'collections.OrderedDict') return new PickleGlobal(q, newOrderedDict);
  if (q === 'torch._utils._rebuild_tensor_v2') return new PickleGlobal(q, (a) => rebuildTensor(q, a));
  if (q === 'torch._utils._rebuild_parameter' || q === 'torch._utils._rebuild_parameter_with_state')
    return new PickleGlobal(q, (a) => rebuildParameter(q, a));
  if (module === 'torch' && Object.prototype.hasOwnProperty.call(STORAGE_TYPES, name)) {
    const [dtype, bytes] = STORAGE_TYPES[name];
    return new TorchStorageType(q, dtype, bytes);
  }
  throw new UnsafePickleError(q);
}

/** The persistent ids `torch.save` writes: ('storage', storage_type, key, location, numel). */
export function torchPersistentLoad(pid: PickleValue): PickleValue {
  const t = pid instanceof PickleTuple ? pid.items : null;
  if (!t || t.length < 5 || t[0] !== 'storage')
    throw new PickleError(`unsupported persistent id ${describe(pid)} (expected a torch storage reference)`);
  const [, type, key, location, numel] = t;
  if (!(type instanceof TorchStorageType))
    throw new PickleError(
      `persistent id: storage type must be a torch.*Storage class, got ${describe(type)}`,
    );
  if (typeof key !== 'string') throw new PickleError(`persistent id: storage key must be a string`);
  return new TorchStorage(
    type,
    key,
    typeof location === 'string' ? location : String(location),
    intArg(numel, 'storage numel'),
  );
}

function asKey(v: PickleValue): PickleKey {
  if (
    v === null ||
    typeof v === 'string' ||
    typeof v === 'number' ||
    typeof v === 'bigint' ||
    typeof v === 'boolean'
  )
    return v;
  throw new PickleError(`unsupported dict key ${describe(v)}`);
}

export function describe(v: PickleValue, depth = 0): string {
  if (v === null) return 'None';
  if (depth > 3) return '…'; // hostile pickles can nest tuples arbitrarily deep
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? v.slice(0, 60) + '…' : v);
  if (typeof v !== 'object') return String(v);
  if (Array.isArray(v)) return `list(${v.length})`;
  if (v instanceof Uint8Array) return `bytes(${v.byteLength})`;
  if (v instanceof PickleTuple) {
    const head = v.items.slice(0, 6).map((x) => describe(x, depth + 1));
    return `(${head.join(', ')}${v.items.length > 6 ? ', …' : ''})`;
  }
  if (v instanceof PickleDict) return `${v.className}(${v.items.size} items)`;
  if (v instanceof PickleGlobal || v instanceof TorchStorageType) return v.qualname;
  if (v instanceof TorchStorage) return `storage ${v.key}`;
  return `tensor [${v.size}]`;
}

export interface UnpickleOptions {
  /** Handles BINPERSID/PERSID; default: torch storage references. */
  persistentLoad?: (pid: PickleValue) => PickleValue;
}

/** Runs the pickle program in `data` and returns the value left by STOP. */
export function unpickle(data: Uint8Array, opts: UnpickleOptions = {}): PickleValue {
  const persistentLoad = opts.persistentLoad ?? torchPersistentLoad;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const latin1 = new TextDecoder('latin1');
  const stack: PickleValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  let p = 0;
  let op = 0;
  let opPos = 0;

  const fail = (msg: string): never => {
    throw new PickleError(`pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${opPos}: ${msg}`);
  };
  const need = (n: number): number => {
    if (n < 0 || p + n > data.byteLength) fail(`pickle data truncated (needs ${n} more bytes at ${p})`);
    const at = p;
    p += n;
    return at;
  };
  const line = (): string => {
    const nl = data.indexOf(0x0a, p);
    if (nl < 0) fail('pickle data truncated (missing newline)');
    const s = latin1.decode(data.subarray(p, nl));
    p = nl + 1;
    return s;
  };
  const pop = (): PickleValue => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1]))
      fail('stack underflow');
    return stack.pop() as PickleValue;
  };
  const top = (): PickleValue => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1]))
      fail('stack underflow');
    return stack[stack.length - 1] as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const m = marks.pop();
    if (m === undefined) fail('no MARK on the stack');
    return stack.splice(m as number);
  };
  const str = (at: number, n: number): string => {
    try {
      return utf8.decode(data.subarray(at, at + n));
    } catch {
      return fail('invalid UTF-8 in string');
    }
  };
  const longLE = (at: number, n: number): number | bigint => {
    if (n === 0) return 0;
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[at + i]);
    if (data[at + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const u64len = (at: number): number => {
    const v = view.getBigUint64(at, true);
    if (v > BigInt(data.byteLength)) fail(`length ${v} exceeds the pickle size`);
    return Number(v);
  };
  const memoGet = (i: number): PickleValue => {
    if (!memo.has(i)) fail(`memo key ${i} not found`);
    return memo.get(i) as PickleValue;
  };
  const setItems = (target: PickleValue, kv: PickleValue[]): void => {
    if (!(target instanceof PickleDict)) fail(`SETITEM(S) on ${describe(target)}, not a dict`);
    if (kv.length % 2) fail('odd number of items for SETITEMS');
    for (let i = 0; i < kv.length; i += 2) (target as PickleDict).items.set(asKey(kv[i]), kv[i + 1]);
  };
  const append = (target: PickleValue, items: PickleValue[]): void => {
    if (!Array.isArray(target)) fail(`APPEND(S) on ${describe(target)}, not a list`);
    const list = target as PickleValue[];
    for (const v of items) list.push(v); // no spread: APPENDS may carry more items than the call stack allows
  };
  const callGlobal = (fn: PickleValue, args: PickleValue): PickleValue => {
    if (!(fn instanceof PickleGlobal)) return fail(`${describe(fn)} is not callable`);
    if (!(args instanceof PickleTuple)) return fail(`arguments to ${fn.qualname} must be a tuple`);
    return fn.call(args.items);
  };

  for (;;) {
    opPos = p;
    op = data[need(1)];
    switch (op) {
      case 0x80: // PROTO
        if (data[need(1)] > 5) fail(`unsupported pickle protocol ${data[p - 1]}`);
        break;
      case 0x95: // FRAME: framing is only a read-ahead hint
        need(8);
        break;
      case 0x2e: {
        // STOP
        const v = pop();
        if (stack.length) fail('stack not empty at STOP');
        return v;
      }
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (marks.length && stack.length === marks[marks.length - 1]) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new PickleDict());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PickleTuple([]));
        break;
      case 0x64: {
        // DICT
        const d = new PickleDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x74: // TUPLE
        stack.push(new PickleTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(new PickleTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push(new PickleTuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(new PickleTuple([pop(), b, c]));
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(view.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        stack.push(data[need(1)]);
        break;
      case 0x4d: // BININT2
        stack.push(view.getUint16(need(2), true));
        break;
      case 0x8a: {
        // LONG1
        const n = data[need(1)];
        stack.push(longLE(need(n), n));
        break;
      }
      case 0x8b: {
        // LONG4
        const n = view.getInt32(need(4), true);
        if (n < 0 || n > 1024) fail(`LONG4 of ${n} bytes refused`);
        stack.push(longLE(need(n), n));
        break;
      }
      case 0x49: {
        // INT (text; "01"/"00" are True/False in protocol 0)
        const s = line();
        if (s === '01' || s === '00') stack.push(s === '01');
        else {
          const v = Number(s);
          if (!Number.isSafeInteger(v)) fail(`bad INT ${JSON.stringify(s)}`);
          stack.push(v);
        }
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        stack.push(view.getFloat64(need(8), false));
        break;
      case 0x58: {
        // BINUNICODE
        const n = view.getUint32(need(4), true);
        stack.push(str(need(n), n));
        break;
      }
      case 0x8c: {
        // SHORT_BINUNICODE
        const n = data[need(1)];
        stack.push(str(need(n), n));
        break;
      }
      case 0x8d: {
        // BINUNICODE8
        const n = u64len(need(8));
        stack.push(str(need(n), n));
        break;
      }
      case 0x54: {
        // BINSTRING (Python 2 str)
        const n = view.getInt32(need(4), true);
        const at = need(n);
        stack.push(latin1.decode(data.subarray(at, at + n)));
        break;
      }
      case 0x55: {
        // SHORT_BINSTRING
        const n = data[need(1)];
        const at = need(n);
        stack.push(latin1.decode(data.subarray(at, at + n)));
        break;
      }
      case 0x42: {
        // BINBYTES
        const n = view.getUint32(need(4), true);
        const at = need(n);
        stack.push(data.slice(at, at + n));
        break;
      }
      case 0x43: {
        // SHORT_BINBYTES
        const n = data[need(1)];
        const at = need(n);
        stack.push(data.slice(at, at + n));
        break;
      }
      case 0x8e: // BINBYTES8
      case 0x96: {
        // BYTEARRAY8
        const n = u64len(need(8));
        const at = need(n);
        stack.push(data.slice(at, at + n));
        break;
      }
      case 0x63: {
        // GLOBAL
        const module = line();
        const name = line();
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(resolveGlobal(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        stack.push(callGlobal(pop(), args));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args); only the allowlisted data classes get here
        const args = pop();
        stack.push(callGlobal(pop(), args));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        if (!(kwargs instanceof PickleDict) || kwargs.items.size)
          fail('NEWOBJ_EX with keyword arguments is not supported');
        stack.push(callGlobal(pop(), args));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = top();
        if (obj instanceof PickleDict) {
          // OrderedDict.__reduce__ passes vars(self) (state_dict `_metadata`), maybe as (dict, slots)
          const parts = state instanceof PickleTuple ? state.items : [state];
          for (const s of parts) {
            if (s === null) continue;
            if (!(s instanceof PickleDict)) fail(`BUILD state for a dict must be a dict, got ${describe(s)}`);
            for (const [k, v] of (s as PickleDict).items) obj.attrs.set(k, v);
          }
        } else if (!(obj instanceof TorchTensorRef)) {
          fail(`BUILD on ${describe(obj)} is not supported`);
        }
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistentLoad(pop()));
        break;
      case 0x50: // PERSID
        stack.push(persistentLoad(line()));
        break;
      case 0x71: // BINPUT
        memo.set(data[need(1)], top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(view.getUint32(need(4), true), top());
        break;
      case 0x70: // PUT
        memo.set(Number(line()), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
        stack.push(memoGet(data[need(1)]));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(view.getUint32(need(4), true)));
        break;
      case 0x67: // GET
        stack.push(memoGet(Number(line())));
        break;
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const kv = popMark();
        setItems(top(), kv);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        append(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      default:
        fail('unsupported pickle opcode');
    }
  }
}
