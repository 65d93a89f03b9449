/**
 * A small ONNX graph builder: graph inputs/outputs, initializers (weights), nodes with typed attributes, name
 * scopes, and serialisation through protobufjs (onnx-proto.ts). The graph code (encoder-graph.ts, …) reads like
 * the model code it mirrors, one helper per ONNX operator it uses.
 *
 * Every node input is checked to exist when the node is added, so a wiring mistake fails at export time with
 * the value's name rather than as an opaque load error in ONNX Runtime. Nodes are emitted in creation order,
 * which is a topological order because an input must exist before it is used.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { endianness } from 'node:os';
import {
  AttributeMessage,
  ModelMessage,
  NodeMessage,
  OnnxAttributeType,
  OnnxDataLocation,
  OnnxDataType,
  TensorMessage,
  ValueInfoMessage,
  encodeModelProto,
} from './onnx-proto';

/** IR version 8 goes with opset 17 (ONNX 1.13); onnxruntime-node 1.30 reads both. */
export const ONNX_IR_VERSION = 8;
/** Opset 17 is the first with LayerNormalization, and what the official SAM exports use. */
export const ONNX_OPSET = 17;

/**
 * ONNX Runtime's contrib operators (com.microsoft, opset 1): fused kernels that plain ONNX has no operator for.
 * A graph that uses one loads only on ONNX Runtime, which is the engine these exports are for.
 */
export const MS_DOMAIN = 'com.microsoft';
export type OnnxOpDomain = typeof MS_DOMAIN;
const OPSET_OF_DOMAIN: Record<OnnxOpDomain, number> = { [MS_DOMAIN]: 1 };

export type OnnxElemType = 'float32' | 'float64' | 'int64' | 'bool';
/** A dimension: a number is static, a string is a symbolic (dynamic) axis name. */
export type OnnxDim = number | string;

const ELEM: Record<OnnxElemType, number> = {
  float32: OnnxDataType.FLOAT,
  float64: OnnxDataType.DOUBLE,
  int64: OnnxDataType.INT64,
  bool: OnnxDataType.BOOL,
};

/** An attribute with its ONNX type spelled out (a JS number does not say int or float). */
export type OnnxAttr =
  | { int: number }
  | { float: number }
  | { ints: readonly number[] }
  | { floats: readonly number[] }
  | { string: string };
export const attrInt = (v: number): OnnxAttr => ({ int: v });
export const attrFloat = (v: number): OnnxAttr => ({ float: v });
export const attrInts = (v: readonly number[]): OnnxAttr => ({ ints: v });
export const attrString = (v: string): OnnxAttr => ({ string: v });

/** A graph that cannot be built as asked (a builder or exporter bug, or a model the exporter cannot express). */
export class OnnxExportError extends Error {
  override name = 'OnnxExportError';
}

interface Initializer {
  name: string;
  dims: number[];
  elem: OnnxElemType;
  /** Little-endian bytes of the values (the host must be little-endian; checked once). */
  bytes: Uint8Array;
}

interface IoValue {
  name: string;
  elem: OnnxElemType;
  dims: readonly OnnxDim[];
}

function toAttribute(name: string, a: OnnxAttr): AttributeMessage {
  if ('int' in a) {
    if (!Number.isInteger(a.int)) throw new OnnxExportError(`attribute ${name}: ${a.int} is not an integer`);
    return { name, type: OnnxAttributeType.INT, i: a.int };
  }
  if ('float' in a) return { name, type: OnnxAttributeType.FLOAT, f: a.float };
  if ('ints' in a) {
    if (!a.ints.every(Number.isInteger))
      throw new OnnxExportError(`attribute ${name}: [${a.ints}] are not all integers`);
    return { name, type: OnnxAttributeType.INTS, ints: [...a.ints] };
  }
  if ('floats' in a) return { name, type: OnnxAttributeType.FLOATS, floats: [...a.floats] };
  return { name, type: OnnxAttributeType.STRING, s: new TextEncoder().encode(a.string) };
}

function valueInfo(v: IoValue): ValueInfoMessage {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: ELEM[v.elem],
        shape: { dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export interface ModelOptions {
  /** Free text stored as the model's doc_string. */
  doc?: string;
  /** Stored as metadata_props (ONNX Runtime shows them as custom metadata). */
  metadata?: Record<string, string>;
  producerVersion?: string;
}

export interface SerializeOptions {
  /**
   * Where the weights go. `inline`: inside the protobuf, which caps a file at 2 GiB. `external`: in a side file
   * named by `externalDataFile`, which ONNX Runtime reads from beside the .onnx file. `auto` (default): inline
   * up to `AUTO_EXTERNAL_BYTES` of weights, external above (vit_h's 2.5 GB cannot be inline).
   */
  weights?: 'inline' | 'external' | 'auto';
  /** Side-file name (a bare file name, resolved beside the .onnx file). Needed whenever weights go external. */
  externalDataFile?: string;
}

export interface SerializedModel {
  /** The .onnx bytes. */
  model: Uint8Array;
  /** The side file's name and byte chunks in order (external weights only); write the chunks back to back. */
  externalDataFile?: string;
  externalData?: Uint8Array[];
  /** Total bytes of initializer data. */
  weightBytes: number;
}

/** `weights: 'auto'` goes external above this many weight bytes (well below protobuf's 2 GiB ceiling). */
export const AUTO_EXTERNAL_BYTES = 1 << 30;

/** Offsets of large tensors in the side file are aligned to this so ONNX Runtime can map them directly. */
const EXTERNAL_ALIGN = 4096;

export class GraphBuilder {
  private readonly nodes: NodeMessage[] = [];
  private readonly inits: Initializer[] = [];
  private readonly inputs: IoValue[] = [];
  private readonly outputs: IoValue[] = [];
  /** Every value name defined so far (inputs, initializers, node outputs). */
  private readonly defined = new Set<string>();
  /** Small constants by content, so repeated shapes/scalars share one initializer. */
  private readonly constCache = new Map<string, string>();
  private readonly counters = new Map<string, number>();
  private readonly scopes: string[] = [];
  /** Operator domains besides the default one that some node uses; each gets its opset import. */
  private readonly domains = new Set<OnnxOpDomain>();

  constructor(readonly name: string) {
    if (endianness() !== 'LE') throw new OnnxExportError('the ONNX exporter assumes a little-endian host');
  }

  /** Runs `fn` with `scope` appended to generated names (e.g. `blocks.3/attn/MatMul_2`), for readable graphs. */
  scope<T>(scope: string, fn: () => T): T {
    this.scopes.push(scope);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  private fresh(base: string): string {
    const prefix = this.scopes.length ? this.scopes.join('/') + '/' : '';
    const key = prefix + base;
    const n = this.counters.get(key) ?? 0;
    this.counters.set(key, n + 1);
    const name = n === 0 ? key : `${key}_${n}`;
    // A user-named value could collide with a generated one; keep counting until it does not.
    return this.defined.has(name) ? this.fresh(base) : name;
  }

  private define(name: string): void {
    if (this.defined.has(name)) throw new OnnxExportError(`value "${name}" is defined twice`);
    this.defined.add(name);
  }

  input(name: string, elem: OnnxElemType, dims: readonly OnnxDim[]): string {
    this.define(name);
    this.inputs.push({ name, elem, dims });
    return name;
  }

  /**
   * Declares `value` as a graph output named `name` (an Identity is inserted when the names differ; ONNX
   * Runtime removes it when optimising).
   */
  output(name: string, value: string, elem: OnnxElemType, dims: readonly OnnxDim[]): void {
    const v = value === name ? value : this.op('Identity', [value], {}, { outputs: [name] })[0];
    if (!this.defined.has(v))
      throw new OnnxExportError(`output "${name}" refers to unknown value "${value}"`);
    this.outputs.push({ name: v, elem, dims });
  }

  /** A float32 initializer (a weight). The data is referenced, not copied, until serialisation. */
  weight(name: string, dims: readonly number[], data: Float32Array): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (data.length !== n)
      throw new OnnxExportError(`initializer ${name}: shape [${dims}] needs ${n} values, got ${data.length}`);
    this.define(name);
    this.inits.push({
      name,
      dims: [...dims],
      elem: 'float32',
      bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    return name;
  }

  private constant(
    elem: 'float32' | 'float64' | 'int64',
    dims: readonly number[],
    values: readonly number[],
  ): string {
    const key = `${elem}[${dims}]${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const tag = { float32: 'f32', float64: 'f64', int64: 'i64' }[elem];
    const name = this.fresh(`const_${tag}`);
    this.define(name);
    const bytes =
      elem === 'int64'
        ? new Uint8Array(BigInt64Array.from(values.map((v) => BigInt(v))).buffer)
        : elem === 'float64'
          ? new Uint8Array(Float64Array.from(values).buffer)
          : new Uint8Array(Float32Array.from(values).buffer);
    this.inits.push({ name, dims: [...dims], elem, bytes });
    this.constCache.set(key, name);
    return name;
  }

  /** A float32 constant: a scalar (dims []) or a tensor. */
  constF32(values: readonly number[] | number, dims: readonly number[] = []): string {
    const v = typeof values === 'number' ? [values] : values;
    return this.constant('float32', dims, v);
  }

  /** A float64 scalar (for index arithmetic that float32 would round). */
  constF64(value: number): string {
    return this.constant('float64', [], [value]);
  }

  /** An int64 1-D constant (shapes, axes, slice bounds), or a scalar when `scalar` is set. */
  constI64(values: readonly number[], scalar = false): string {
    if (!values.every(Number.isSafeInteger))
      throw new OnnxExportError(`int64 constant [${values}] is not integral`);
    if (scalar && values.length !== 1) throw new OnnxExportError('an int64 scalar takes one value');
    return this.constant('int64', scalar ? [] : [values.length], values);
  }

  /** Adds a node; returns its output names (generated unless `outputs` names them). */
  op(
    opType: string,
    inputs: readonly string[],
    attrs: Record<string, OnnxAttr> = {},
    opts: { outputs?: readonly string[]; numOutputs?: number; domain?: OnnxOpDomain } = {},
  ): string[] {
    for (const i of inputs)
      if (i !== '' && !this.defined.has(i))
        throw new OnnxExportError(`${opType}: input "${i}" is not defined (yet)`);
    const outs = opts.outputs ? [...opts.outputs] : [];
    const count = opts.outputs ? outs.length : (opts.numOutputs ?? 1);
    for (let k = outs.length; k < count; k++) outs.push(this.fresh(opType));
    for (const o of outs) this.define(o);
    this.nodes.push({
      input: [...inputs],
      output: outs,
      name: this.fresh(`${opType}_node`),
      opType,
      ...(opts.domain ? { domain: opts.domain } : {}),
      attribute: Object.entries(attrs).map(([k, v]) => toAttribute(k, v)),
    });
    if (opts.domain) this.domains.add(opts.domain);
    return outs;
  }

  /** One-output node (of `domain`'s operator set when given, e.g. ONNX Runtime's contrib ops). */
  op1(
    opType: string,
    inputs: readonly string[],
    attrs: Record<string, OnnxAttr> = {},
    domain?: OnnxOpDomain,
  ): string {
    return this.op(opType, inputs, attrs, domain ? { domain } : {})[0];
  }

  // ---- Operators (ONNX opset 17 semantics) ----

  add(a: string, b: string): string {
    return this.op1('Add', [a, b]);
  }
  sub(a: string, b: string): string {
    return this.op1('Sub', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.op1('Mul', [a, b]);
  }
  div(a: string, b: string): string {
    return this.op1('Div', [a, b]);
  }
  matMul(a: string, b: string): string {
    return this.op1('MatMul', [a, b]);
  }
  relu(x: string): string {
    return this.op1('Relu', [x]);
  }
  sigmoid(x: string): string {
    return this.op1('Sigmoid', [x]);
  }
  /** Reshape to `shape` (0 copies the input dim, −1 is inferred, as ONNX Reshape with allowzero = 0). */
  reshape(x: string, shape: readonly number[]): string {
    return this.op1('Reshape', [x, this.constI64(shape)]);
  }
  transpose(x: string, perm: readonly number[]): string {
    return this.op1('Transpose', [x], { perm: attrInts(perm) });
  }
  softmax(x: string, axis = -1): string {
    return this.op1('Softmax', [x], { axis: attrInt(axis) });
  }
  concat(xs: readonly string[], axis: number): string {
    return this.op1('Concat', xs, { axis: attrInt(axis) });
  }
  /** Static slice: [starts, ends) on `axes` (steps 1). */
  slice(x: string, starts: readonly number[], ends: readonly number[], axes: readonly number[]): string {
    return this.op1('Slice', [x, this.constI64(starts), this.constI64(ends), this.constI64(axes)]);
  }
  unsqueeze(x: string, axes: readonly number[]): string {
    return this.op1('Unsqueeze', [x, this.constI64(axes)]);
  }
  reduceMean(x: string, axes: readonly number[], keepdims = true): string {
    return this.op1('ReduceMean', [x], { axes: attrInts(axes), keepdims: attrInt(keepdims ? 1 : 0) });
  }
  cast(x: string, to: OnnxElemType): string {
    return this.op1('Cast', [x], { to: attrInt(ELEM[to]) });
  }

  /** y = x·W + b over the last axis; `w` is [in,out] (already transposed from PyTorch's [out,in]). */
  linear(x: string, w: string, b?: string): string {
    const y = this.matMul(x, w);
    return b ? this.add(y, b) : y;
  }

  /**
   * Gemm on 2-D `a` [M,K]: a·w + c, `w` [K,N] (or [N,K] with `transB`), `c` broadcast to [M,N] ([N] or [M,N]).
   * One node where MatMul + Add on N-D tokens makes ONNX Runtime wrap its fused Gemm in two Reshapes.
   */
  gemm(a: string, w: string, c?: string, transB = false): string {
    return this.op1('Gemm', c ? [a, w, c] : [a, w], transB ? { transB: attrInt(1) } : {});
  }
  /** Expand (numpy broadcast) to `shape`. */
  expand(x: string, shape: readonly number[]): string {
    return this.op1('Expand', [x, this.constI64(shape)]);
  }

  /** LayerNormalization over the last axis (biased variance, as PyTorch). */
  layerNorm(x: string, scale: string, bias: string, eps: number): string {
    return this.op1('LayerNormalization', [x, scale, bias], {
      axis: attrInt(-1),
      epsilon: attrFloat(eps),
    });
  }

  /**
   * PyTorch's LayerNorm2d on NCHW (normalise over C at every pixel, biased variance): to channels-last,
   * LayerNormalization over the last axis, back to NCHW. `scale`/`bias` are [C]. Exporter 5; before, the spelled-out
   * form (ReduceMean, Sub, Mul, ReduceMean, Add, Sqrt, Div, Mul, Add on the channel axis), which ONNX Runtime does
   * not fuse: casam-small's Alignment Layer (three of them on [1,64,32,32]) 6.02 → 5.09 ms a run on one thread,
   * casam-tiny's 1.32 → 1.23 ms, outputs within 7e-7 of each other.
   */
  layerNorm2d(x: string, scale: string, bias: string, eps: number): string {
    const last = this.layerNorm(this.transpose(x, [0, 2, 3, 1]), scale, bias, eps);
    return this.transpose(last, [0, 3, 1, 2]);
  }

  /**
   * Exact GELU, 0.5·x·(1 + erf(x/√2)), in the order PyTorch exports it (Div, Erf, Add, Mul, Mul), which is the
   * pattern ONNX Runtime fuses into one Gelu kernel. (The Gelu operator itself needs opset 20.)
   */
  gelu(x: string): string {
    const e = this.op1('Erf', [this.div(x, this.constF32(Math.SQRT2))]);
    return this.mul(this.mul(x, this.add(e, this.constF32(1))), this.constF32(0.5));
  }

  conv(
    x: string,
    w: string,
    b: string | undefined,
    o: { kernel: number; stride?: number; pad?: number; group?: number },
  ): string {
    const p = o.pad ?? 0;
    const attrs: Record<string, OnnxAttr> = {
      kernel_shape: attrInts([o.kernel, o.kernel]),
      strides: attrInts([o.stride ?? 1, o.stride ?? 1]),
      pads: attrInts([p, p, p, p]),
      dilations: attrInts([1, 1]),
      group: attrInt(o.group ?? 1),
    };
    return this.op1('Conv', b ? [x, w, b] : [x, w], attrs);
  }

  /** ConvTranspose, no padding; the weight is PyTorch's [in, out, k, k], which is also ONNX's layout. */
  convTranspose(x: string, w: string, b: string | undefined, kernel: number, stride: number): string {
    return this.op1('ConvTranspose', b ? [x, w, b] : [x, w], {
      kernel_shape: attrInts([kernel, kernel]),
      strides: attrInts([stride, stride]),
      pads: attrInts([0, 0, 0, 0]),
      dilations: attrInts([1, 1]),
      group: attrInt(1),
    });
  }

  // ---- Serialisation ----

  /** Total bytes of initializer data so far. */
  weightBytes(): number {
    return this.inits.reduce((n, t) => n + t.bytes.byteLength, 0);
  }

  private message(opts: ModelOptions, tensors: TensorMessage[]): ModelMessage {
    if (this.outputs.length === 0) throw new OnnxExportError(`graph ${this.name} has no outputs`);
    return {
      irVersion: ONNX_IR_VERSION,
      producerName: 'casam-federation',
      producerVersion: opts.producerVersion ?? '',
      docString: opts.doc ?? '',
      opsetImport: [
        { domain: '', version: ONNX_OPSET },
        ...[...this.domains].map((domain) => ({ domain, version: OPSET_OF_DOMAIN[domain] })),
      ],
      metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: tensors,
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
      },
    };
  }

  serialize(opts: ModelOptions & SerializeOptions): SerializedModel {
    const weightBytes = this.weightBytes();
    const mode = opts.weights ?? 'auto';
    const external = mode === 'external' || (mode === 'auto' && weightBytes > AUTO_EXTERNAL_BYTES);
    if (!external) {
      const tensors: TensorMessage[] = this.inits.map((t) => ({
        name: t.name,
        dims: t.dims,
        dataType: ELEM[t.elem],
        rawData: t.bytes,
      }));
      return { model: encodeModelProto(this.message(opts, tensors)), weightBytes };
    }
    const file = opts.externalDataFile;
    if (!file || file !== basename(file) || file === '.' || file === '..')
      throw new OnnxExportError(
        `${weightBytes} bytes of weights go to a side file, which needs a bare file name (externalDataFile), ` +
          `got ${String(file)}`,
      );
    const chunks: Uint8Array[] = [];
    let offset = 0;
    const tensors: TensorMessage[] = this.inits.map((t) => {
      // Tiny constants (shapes, scalars) stay inline: ONNX Runtime needs shape inputs at load time anyway.
      if (t.bytes.byteLength < 1024)
        return { name: t.name, dims: t.dims, dataType: ELEM[t.elem], rawData: t.bytes };
      const pad = (EXTERNAL_ALIGN - (offset % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN;
      if (pad) chunks.push(new Uint8Array(pad));
      offset += pad;
      chunks.push(t.bytes);
      const entry: TensorMessage = {
        name: t.name,
        dims: t.dims,
        dataType: ELEM[t.elem],
        dataLocation: OnnxDataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: file },
          { key: 'offset', value: String(offset) },
          { key: 'length', value: String(t.bytes.byteLength) },
        ],
      };
      offset += t.bytes.byteLength;
      return entry;
    });
    return {
      model: encodeModelProto(this.message(opts, tensors)),
      externalDataFile: file,
      externalData: chunks,
      weightBytes,
    };
  }
}

/**
 * Writes a serialised model to `path` and its side file (if any) beside it. Returns the bytes written per file.
 */
export function writeOnnxModel(
  path: string,
  m: SerializedModel,
): { modelBytes: number; externalBytes: number } {
  const modelBytes = writeChunks(path, [m.model]);
  let externalBytes = 0;
  if (m.externalData && m.externalDataFile)
    externalBytes = writeChunks(join(dirname(path), m.externalDataFile), m.externalData);
  return { modelBytes, externalBytes };
}

/** Writes byte chunks back to back into one file (no concatenated copy of a multi-GB side file in memory). */
function writeChunks(path: string, chunks: readonly Uint8Array[]): number {
  const fd = openSync(path, 'w');
  let total = 0;
  try {
    for (const c of chunks) {
      let done = 0;
      while (done < c.byteLength) done += writeSync(fd, c, done, c.byteLength - done);
      total += c.byteLength;
    }
  } finally {
    closeSync(fd);
  }
  return total;
}
