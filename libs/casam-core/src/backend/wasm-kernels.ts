/**
 * Training kernels for the TensorFlow.js wasm backend.
 *
 * tfjs-backend-wasm 4.22 ships a forward-inference kernel set: several kernels that gradients need are missing
 * (Conv2DBackpropFilter, DepthwiseConv2dNativeBackprop{Filter,Input}, UnsortedSegmentSum), and two that exist
 * run on a scalar C++ loop instead of XNNPACK: Conv2DBackpropInput (~10× slower than Conv2D) and BatchMatMul
 * whenever a batch dimension is > 1 or an operand is transposed (~12× slower than the plain 2-D case) — which is
 * exactly what the gradient of every matMul asks for. Two stock kernels are wrong and are replaced:
 * MaxPoolGrad (all-negative windows) and ResizeBilinearGrad (ignores halfPixelCenters; resize-bilinear-grad.ts).
 * Still missing afterwards, none used by training: Complex/Real/Imag/ComplexAbs/FFT/IFFT (the wasm backend has
 * no complex storage), Einsum (tfjs-core has no gradient for it), Ragged*, StaticRegexReplace, Draw.
 *
 * Everything here is expressed through the backend's own XNNPACK-backed kernels (Conv2D, the batch-1
 * BatchMatMul, DepthwiseConv2dNative) plus memcpy-style loops over the wasm heap (im2col/col2im), so the
 * heavy FLOPs run at the speed of the forward pass. Kernels are looked up with `tf.getKernel(name, 'wasm')`
 * and called directly on TensorInfos, the way tfjs backends compose kernels internally; every intermediate is
 * released with `backend.disposeData`.
 *
 * `registerWasmTrainingKernels()` is idempotent and registers a missing kernel only if the installed
 * tfjs-backend-wasm still lacks it, so a future release that adds native versions wins automatically.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { tf } from '../sam/tf';
import { registerResizeBilinearGradFix } from './resize-bilinear-grad';

type TensorInfo = tf.TensorInfo;
type Shape4 = [number, number, number, number];

const WASM = 'wasm';

/** Upper bound on the scratch im2col/col2im matrix (floats); larger problems are processed in row chunks. */
let maxColFloats = 16 * 1024 * 1024; // 64 MiB

/** Caps the im2col/col2im scratch matrix (in floats; tests use it to force chunking). Returns the old cap. */
export function setWasmScratchLimit(floats: number): number {
  const old = maxColFloats;
  maxColFloats = Math.max(1, Math.floor(floats));
  return old;
}

/**
 * Per-batch-element multiply-adds from which a batched matmul is split into batch-1 XNNPACK matmuls; below it
 * the per-call overhead outweighs the scalar loop of the original kernel.
 */
const MIN_MACS_PER_BATCH_FOR_SPLIT = 32 * 1024;

interface HeapModule {
  HEAPU8: Uint8Array;
}

/** A fresh Float32 view of the whole wasm heap (take it after the last allocation: memory growth detaches views). */
function heapF32(backend: BackendWasm): Float32Array {
  const u8 = (backend.wasm as unknown as HeapModule).HEAPU8;
  return new Float32Array(u8.buffer, 0, u8.byteLength >>> 2);
}

/** Float index of a tensor's data in `heapF32`. */
function floatOffset(backend: BackendWasm, t: TensorInfo): number {
  return backend.getMemoryOffset(t.dataId) >>> 2;
}

/** Runs registered wasm kernels on TensorInfos and remembers every result so intermediates can be released. */
class KernelScope {
  private readonly made: TensorInfo[] = [];

  constructor(readonly backend: BackendWasm) {}

  run(name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): TensorInfo {
    const kernel = tf.getKernel(name, WASM);
    if (kernel == null) throw new Error(`wasm backend: kernel ${name} is not registered`);
    const out = kernel.kernelFunc({ inputs, backend: this.backend, attrs });
    const info = Array.isArray(out) ? out[0] : out;
    this.made.push(info);
    return info;
  }

  /** A new zero-initialised-or-not output owned by this scope. */
  output(shape: number[], dtype: tf.DataType = 'float32'): TensorInfo {
    const info = this.backend.makeOutput(shape, dtype);
    this.made.push(info);
    return info;
  }

  /**
   * Elements [start, start + size(shape)) of `x` (row-major) as a new tensor of `shape`: a memmove, much faster
   * than the Slice kernel's JS loops for the contiguous sub-blocks (leading-axis ranges) used here.
   */
  range(x: TensorInfo, start: number, shape: number[]): TensorInfo {
    const out = this.output(shape, x.dtype);
    const size = shape.reduce((a, b) => a * b, 1);
    const heap = heapF32(this.backend);
    const src = floatOffset(this.backend, x) + start;
    heap.copyWithin(floatOffset(this.backend, out), src, src + size);
    return out;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  /** Plain 2-D/3-D matmul through the XNNPACK path (batch 1, no transposes). */
  matMul(a: TensorInfo, b: TensorInfo): TensorInfo {
    return this.run('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
  }

  /** Crops (negative amounts) then zero-pads (positive amounts) the two spatial axes of an NHWC tensor. */
  padOrCropHW(x: TensorInfo, top: number, bottom: number, left: number, right: number): TensorInfo {
    let t = x;
    const [n, h, w, c] = t.shape;
    const ct = Math.max(0, -top);
    const cb = Math.max(0, -bottom);
    const cl = Math.max(0, -left);
    const cr = Math.max(0, -right);
    if (ct + cb + cl + cr > 0) {
      t = this.run('Slice', { x: t }, { begin: [0, ct, cl, 0], size: [n, h - ct - cb, w - cl - cr, c] });
    }
    const pt = Math.max(0, top);
    const pb = Math.max(0, bottom);
    const pl = Math.max(0, left);
    const pr = Math.max(0, right);
    if (pt + pb + pl + pr > 0) {
      t = this.run(
        'PadV2',
        { x: t },
        {
          paddings: [
            [0, 0],
            [pt, pb],
            [pl, pr],
            [0, 0],
          ],
          constantValue: 0,
        },
      );
    }
    return t;
  }

  /** Stops tracking `t` (the caller released it already). */
  forget(t: TensorInfo): void {
    const i = this.made.indexOf(t);
    if (i >= 0) this.made.splice(i, 1);
  }

  /** Releases every intermediate except `keep` (which the engine takes over). */
  finish(keep: TensorInfo): TensorInfo {
    for (const t of this.made) if (t !== keep) this.backend.disposeData(t.dataId);
    return keep;
  }

  /** Releases everything (error path). */
  dispose(): void {
    for (const t of this.made) this.backend.disposeData(t.dataId);
  }
}

function withScope(backend: BackendWasm, body: (s: KernelScope) => TensorInfo): TensorInfo {
  const scope = new KernelScope(backend);
  let result: TensorInfo;
  try {
    result = body(scope);
  } catch (e) {
    scope.dispose();
    throw e;
  }
  return scope.finish(result);
}

function assertFloat32(kernel: string, ...ts: TensorInfo[]): void {
  for (const t of ts) {
    if (t.dtype !== 'float32') throw new Error(`${kernel} on wasm supports float32 only (got ${t.dtype})`);
  }
}

function assertDilationsOne(kernel: string, dilations: number | [number, number] | undefined): void {
  if (dilations == null) return;
  const [dh, dw] = typeof dilations === 'number' ? [dilations, dilations] : dilations;
  if (dh !== 1 || dw !== 1) {
    throw new Error(`${kernel} on wasm supports dilations = 1 only (got [${dh}, ${dw}])`);
  }
}

function assertNHWC(kernel: string, dataFormat: string | undefined): void {
  if (dataFormat != null && dataFormat !== 'NHWC') {
    throw new Error(`${kernel} on wasm supports dataFormat NHWC only (got ${dataFormat})`);
  }
}

/** Geometry of an NHWC convolution, dilation 1. */
interface ConvGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padLeft: number;
}

function geometry(info: tf.backend_util.Conv2DInfo): ConvGeometry {
  return {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    kH: info.filterHeight,
    kW: info.filterWidth,
    strideH: info.strideHeight,
    strideW: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/**
 * How many output rows (one row = one (batch, outY) pair, i.e. outW positions) fit in one scratch matrix of
 * `floatsPerPosition` floats per output position.
 */
function rowsPerChunk(g: ConvGeometry, floatsPerPosition: number): number {
  return Math.max(1, Math.min(g.batch * g.outH, Math.floor(maxColFloats / (g.outW * floatsPerPosition))));
}

/**
 * Transposed im2col for output rows [r0, r1) (one row = one (batch, outY) pair = outW positions): writes
 * colT[(kh, kw, c), p] = x[b, oy·sh − pt + kh, ox·sw − pl + kw, c] (0 in the padding) for the chunk's positions
 * p, as a [kH·kW·inC, n] matrix at heap[colOff ..]. For a fixed (row, kh, kw) the source is one contiguous
 * [outW, inC] run of x, so each write row is a strided gather from a block that stays in cache.
 */
function im2colT(
  heap: Float32Array,
  xOff: number,
  colOff: number,
  g: ConvGeometry,
  r0: number,
  r1: number,
): void {
  const { inH, inW, inC, outH, outW, kH, kW, strideH, strideW, padTop, padLeft } = g;
  const n = (r1 - r0) * outW;
  const step = strideW * inC;
  for (let kw = 0; kw < kW; kw++) {
    // output columns whose input column ox·sw − pl + kw is inside the image
    const oxLo = Math.min(outW, Math.max(0, Math.ceil((padLeft - kw) / strideW)));
    const oxHi = Math.max(oxLo, Math.min(outW, Math.floor((inW - 1 + padLeft - kw) / strideW) + 1));
    for (let r = r0; r < r1; r++) {
      const b = Math.floor(r / outH);
      const oy = r - b * outH;
      const rowOff = (r - r0) * outW;
      for (let kh = 0; kh < kH; kh++) {
        const iy = oy * strideH - padTop + kh;
        const tapRow = colOff + (kh * kW + kw) * inC * n + rowOff;
        if (iy < 0 || iy >= inH) {
          for (let c = 0; c < inC; c++) heap.fill(0, tapRow + c * n, tapRow + c * n + outW);
          continue;
        }
        const src0 = xOff + ((b * inH + iy) * inW + oxLo * strideW - padLeft + kw) * inC;
        for (let c = 0; c < inC; c++) {
          const d = tapRow + c * n;
          for (let ox = 0; ox < oxLo; ox++) heap[d + ox] = 0;
          let src = src0 + c;
          for (let ox = oxLo; ox < oxHi; ox++, src += step) heap[d + ox] = heap[src];
          for (let ox = oxHi; ox < outW; ox++) heap[d + ox] = 0;
        }
      }
    }
  }
}

/** col2im for output rows [r0, r1): scatter-adds each row of dcol[n, (kh,kw,c)] into its receptive field of dx. */
function col2imAdd(
  heap: Float32Array,
  colOff: number,
  dxOff: number,
  g: ConvGeometry,
  r0: number,
  r1: number,
): void {
  const { inH, inW, inC, outH, outW, kH, kW, strideH, strideW, padTop, padLeft } = g;
  const rowLen = kW * inC;
  const posLen = kH * rowLen;
  let src = colOff;
  for (let r = r0; r < r1; r++) {
    const b = Math.floor(r / outH);
    const oy = r - b * outH;
    const imageOff = dxOff + b * inH * inW * inC;
    for (let ox = 0; ox < outW; ox++, src += posLen) {
      const ix0 = ox * strideW - padLeft;
      const kwLo = Math.max(0, -ix0);
      const kwHi = Math.min(kW, inW - ix0);
      if (kwLo >= kwHi) continue;
      for (let kh = 0; kh < kH; kh++) {
        const iy = oy * strideH - padTop + kh;
        if (iy < 0 || iy >= inH) continue;
        const s = src + kh * rowLen + kwLo * inC;
        const d = imageOff + (iy * inW + ix0 + kwLo) * inC;
        const len = (kwHi - kwLo) * inC;
        for (let i = 0; i < len; i++) heap[d + i] += heap[s + i];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Conv2DBackpropFilter: dW[kh,kw,ci,co] = Σ_{b,oy,ox} x[b, oy·sh+kh−pt, ox·sw+kw−pl, ci] · dy[b,oy,ox,co]
// computed as dW[(kh,kw,ci), co] = colT[(kh,kw,ci), n] · dy[n, co] on the XNNPACK matmul, in position chunks.
// The large operand is the matmul's left-hand side on purpose: XNNPACK re-packs the right-hand side ("weights")
// on every call, and packing the n×kkc column matrix would cost more than the product itself.
// ---------------------------------------------------------------------------------------------------------------

const conv2DBackpropFilter: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as BackendWasm;
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
    attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  assertFloat32('Conv2DBackpropFilter', x, dy);
  assertNHWC('Conv2DBackpropFilter', dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4,
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const g = geometry(info);
  const outC = info.outChannels;
  const kkc = g.kH * g.kW * g.inC;

  return withScope(wasm, (s) => {
    const rows = g.batch * g.outH;
    const chunk = rowsPerChunk(g, kkc);
    const dy3 = s.reshape(dy, [1, rows * g.outW, outC]);
    let acc: TensorInfo | null = null;
    for (let r0 = 0; r0 < rows; r0 += chunk) {
      const r1 = Math.min(rows, r0 + chunk);
      const n = (r1 - r0) * g.outW;
      const colT = s.output([1, kkc, n]);
      im2colT(heapF32(wasm), floatOffset(wasm, x), floatOffset(wasm, colT), g, r0, r1);
      const dyRows = r1 - r0 === rows ? dy3 : s.range(dy3, r0 * g.outW * outC, [1, n, outC]);
      const part = s.matMul(colT, dyRows); // [1, kkc, outC]
      wasm.disposeData(colT.dataId); // one chunk of scratch at a time
      s.forget(colT);
      acc = acc == null ? part : s.run('Add', { a: acc, b: part });
    }
    return s.reshape(acc as TensorInfo, [g.kH, g.kW, g.inC, outC]);
  });
};

// ---------------------------------------------------------------------------------------------------------------
// Conv2DBackpropInput (also the forward of conv2dTranspose). The stock wasm kernel is a scalar loop.
//  stride 1: dx = conv2d(dy padded by k−1−p, W rotated 180° with in/out swapped) — one XNNPACK convolution.
//  stride >1: dcol[n, (kh,kw,ci)] = dy[n, co] · Wᵀ[co, (kh,kw,ci)] on the XNNPACK matmul, then col2im.
// ---------------------------------------------------------------------------------------------------------------

const conv2DBackpropInput: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as BackendWasm;
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
    attrs as unknown as tf.Conv2DBackpropInputAttrs;
  assertFloat32('Conv2DBackpropInput', dy, filter);
  assertNHWC('Conv2DBackpropInput', dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as Shape4,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const g = geometry(info);
  const outC = info.outChannels;

  return withScope(wasm, (s) => {
    if (g.strideH === 1 && g.strideW === 1) {
      // Full correlation: pad dy so that a valid kH×kW convolution yields inH×inW.
      const top = g.kH - 1 - g.padTop;
      const left = g.kW - 1 - g.padLeft;
      const bottom = g.inH + g.kH - 1 - top - g.outH;
      const right = g.inW + g.kW - 1 - left - g.outW;
      const wRot = s.run('Reverse', { x: filter }, { dims: [0, 1] });
      const wT = s.transpose(wRot, [0, 1, 3, 2]); // [kH, kW, outC, inC]
      const cropped = s.padOrCropHW(
        dy,
        Math.min(0, top),
        Math.min(0, bottom),
        Math.min(0, left),
        Math.min(0, right),
      );
      return s.run('Conv2D', { x: cropped, filter: wT }, {
        strides: [1, 1],
        pad: [
          [0, 0],
          [Math.max(0, top), Math.max(0, bottom)],
          [Math.max(0, left), Math.max(0, right)],
          [0, 0],
        ],
        dataFormat: 'NHWC',
        dilations: [1, 1],
        dimRoundingMode: undefined,
      } as unknown as tf.NamedAttrMap);
    }
    const kkc = g.kH * g.kW * g.inC;
    const rows = g.batch * g.outH;
    const chunk = rowsPerChunk(g, kkc);
    const wT = s.reshape(s.transpose(s.reshape(filter, [kkc, outC]), [1, 0]), [1, outC, kkc]);
    const dy3 = s.reshape(dy, [1, rows * g.outW, outC]);
    const dx = s.output([g.batch, g.inH, g.inW, g.inC]);
    heapF32(wasm).fill(0, floatOffset(wasm, dx), floatOffset(wasm, dx) + g.batch * g.inH * g.inW * g.inC);
    for (let r0 = 0; r0 < rows; r0 += chunk) {
      const r1 = Math.min(rows, r0 + chunk);
      const n = (r1 - r0) * g.outW;
      const dyRows = r1 - r0 === rows ? dy3 : s.range(dy3, r0 * g.outW * outC, [1, n, outC]);
      const dcol = s.matMul(dyRows, wT); // [1, n, kkc]
      col2imAdd(heapF32(wasm), floatOffset(wasm, dcol), floatOffset(wasm, dx), g, r0, r1);
      wasm.disposeData(dcol.dataId); // freed early: one chunk of scratch at a time
      s.forget(dcol);
    }
    return dx;
  });
};

// ---------------------------------------------------------------------------------------------------------------
// Depthwise backprops (filter [kH, kW, C, m], output channel c·m + j).
// ---------------------------------------------------------------------------------------------------------------

const depthwiseBackpropFilter: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as BackendWasm;
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, filterShape } =
    attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  assertFloat32('DepthwiseConv2dNativeBackpropFilter', x, dy);
  assertDilationsOne('DepthwiseConv2dNativeBackpropFilter', dilations);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4,
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    true,
  );
  const g = geometry(info);
  const mult = filterShape[3];
  const c = g.inC;

  return withScope(wasm, (s) => {
    // Bring x to the exact padded extent the taps read: rows [−pt, (outH−1)·sh + kH − pt).
    const needH = (g.outH - 1) * g.strideH + g.kH;
    const needW = (g.outW - 1) * g.strideW + g.kW;
    const xp = s.padOrCropHW(x, g.padTop, needH - g.inH - g.padTop, g.padLeft, needW - g.inW - g.padLeft);
    const dyMat = s.reshape(dy, [g.batch * g.outH * g.outW, c, mult]);
    const out = s.output([g.kH, g.kW, c, mult]);
    const sums: TensorInfo[] = [];
    for (let kh = 0; kh < g.kH; kh++) {
      for (let kw = 0; kw < g.kW; kw++) {
        const tap =
          g.strideH === 1 && g.strideW === 1
            ? s.run('Slice', { x: xp }, { begin: [0, kh, kw, 0], size: [g.batch, g.outH, g.outW, c] })
            : s.run(
                'StridedSlice',
                { x: xp },
                {
                  begin: [0, kh, kw, 0],
                  end: [g.batch, kh + (g.outH - 1) * g.strideH + 1, kw + (g.outW - 1) * g.strideW + 1, c],
                  strides: [1, g.strideH, g.strideW, 1],
                  beginMask: 0,
                  endMask: 0,
                  ellipsisMask: 0,
                  newAxisMask: 0,
                  shrinkAxisMask: 0,
                },
              );
        const tapMat = s.reshape(tap, [g.batch * g.outH * g.outW, c, 1]);
        const prod = s.run('Multiply', { a: tapMat, b: dyMat });
        sums.push(s.run('Sum', { x: prod }, { axis: [0], keepDims: false })); // [c, mult]
      }
    }
    const heap = heapF32(wasm);
    const outOff = floatOffset(wasm, out);
    sums.forEach((t, i) => {
      const src = floatOffset(wasm, t);
      heap.copyWithin(outOff + i * c * mult, src, src + c * mult);
    });
    return out;
  });
};

const depthwiseBackpropInput: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as BackendWasm;
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, inputShape } =
    attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  assertFloat32('DepthwiseConv2dNativeBackpropInput', dy, filter);
  assertDilationsOne('DepthwiseConv2dNativeBackpropInput', dilations);
  const info = tf.backend_util.computeConv2DInfo(
    inputShape as Shape4,
    filter.shape as Shape4,
    strides,
    1,
    pad,
    dimRoundingMode,
    true,
  );
  const g = geometry(info);
  const mult = filter.shape[3];
  const c = g.inC;
  const cm = c * mult;

  return withScope(wasm, (s) => {
    // Zero-dilate dy by the stride (a value every sh rows / sw columns), then pad for a full correlation with
    // the 180°-rotated filter; the trailing zeros the dilation adds count towards the bottom/right padding.
    let d = dy;
    if (g.strideH > 1) {
      d = s.reshape(d, [g.batch, g.outH, 1, g.outW * cm]);
      d = s.run(
        'PadV2',
        { x: d },
        {
          paddings: [
            [0, 0],
            [0, 0],
            [0, g.strideH - 1],
            [0, 0],
          ],
          constantValue: 0,
        },
      );
    }
    if (g.strideW > 1) {
      d = s.reshape(d, [g.batch * g.outH * g.strideH, g.outW, 1, cm]);
      d = s.run(
        'PadV2',
        { x: d },
        {
          paddings: [
            [0, 0],
            [0, 0],
            [0, g.strideW - 1],
            [0, 0],
          ],
          constantValue: 0,
        },
      );
    }
    const dh = g.outH * g.strideH;
    const dw = g.outW * g.strideW;
    d = s.reshape(d, [g.batch, dh, dw, cm]);
    const top = g.kH - 1 - g.padTop;
    const left = g.kW - 1 - g.padLeft;
    const padded = s.padOrCropHW(d, top, g.inH + g.kH - 1 - top - dh, left, g.inW + g.kW - 1 - left - dw);
    const wRot = s.run('Reverse', { x: filter }, { dims: [0, 1] });
    const conv = (xx: TensorInfo, ff: TensorInfo): TensorInfo =>
      s.run('DepthwiseConv2dNative', { x: xx, filter: ff }, {
        strides: [1, 1],
        pad: 'valid',
        dilations: [1, 1],
        dimRoundingMode: undefined,
      } as unknown as tf.NamedAttrMap);
    if (mult === 1) return conv(padded, wRot);
    // Channel multiplier m > 1: dx = Σ_j depthwise(dy[..., c, j], W[..., c, j]).
    const [pb, ph, pw] = padded.shape;
    const p5 = s.reshape(padded, [pb, ph, pw, c, mult]);
    let acc: TensorInfo | null = null;
    for (let j = 0; j < mult; j++) {
      const dj = s.reshape(s.run('Slice', { x: p5 }, { begin: [0, 0, 0, 0, j], size: [pb, ph, pw, c, 1] }), [
        pb,
        ph,
        pw,
        c,
      ]);
      const wj = s.run('Slice', { x: wRot }, { begin: [0, 0, 0, j], size: [g.kH, g.kW, c, 1] });
      const part = conv(dj, wj);
      acc = acc == null ? part : s.run('Add', { a: acc, b: part });
    }
    return acc as TensorInfo;
  });
};

// ---------------------------------------------------------------------------------------------------------------
// UnsortedSegmentSum (gather's gradient): out[s, …] = Σ_{i: ids[i] = s} x[i, …]; ids outside [0, n) are dropped.
// ---------------------------------------------------------------------------------------------------------------

const unsortedSegmentSum: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as BackendWasm;
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs;
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum on wasm supports float32/int32 only (got ${x.dtype})`);
  }
  const segRank = segmentIds.shape.length;
  const count = segmentIds.shape.reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(segRank).reduce((a, b) => a * b, 1);
  const out = wasm.makeOutput([numSegments, ...x.shape.slice(segRank)], x.dtype);
  const values = wasm.typedArrayFromHeap(out) as Float32Array | Int32Array;
  values.fill(0);
  if (count > 0 && inner > 0) {
    const src = wasm.typedArrayFromHeap(x) as Float32Array | Int32Array;
    const ids = wasm.typedArrayFromHeap(segmentIds);
    for (let i = 0; i < count; i++) {
      const seg = ids[i];
      if (!(seg >= 0 && seg < numSegments)) continue;
      const d = seg * inner;
      const sOff = i * inner;
      for (let k = 0; k < inner; k++) values[d + k] += src[sOff + k];
    }
  }
  return out;
};

// ---------------------------------------------------------------------------------------------------------------
// BatchMatMul fast paths. The stock kernel uses XNNPACK only for batch-1, untransposed operands; everything
// else (all matMul gradients, attention) falls to a scalar loop. Transposes are materialised with the
// Transpose kernel (O(size), negligible next to the O(m·n·k) product), a batched lhs against a shared rhs is
// folded into the rows of one matmul, and a truly batched product is split per batch element.
// ---------------------------------------------------------------------------------------------------------------

function fastBatchMatMul(original: tf.KernelFunc): tf.KernelFunc {
  const fast: tf.KernelFunc = (args) => {
    const wasm = args.backend as BackendWasm;
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = (args.attrs ?? {}) as unknown as tf.BatchMatMulAttrs;
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return original(args);
    const aRank = a.shape.length;
    const bRank = b.shape.length;
    const m = transposeA ? a.shape[aRank - 1] : a.shape[aRank - 2];
    const k = transposeA ? a.shape[aRank - 2] : a.shape[aRank - 1];
    const kB = transposeB ? b.shape[bRank - 1] : b.shape[bRank - 2];
    const n = transposeB ? b.shape[bRank - 2] : b.shape[bRank - 1];
    const batchA = a.shape.slice(0, -2).reduce((p, q) => p * q, 1);
    const batchB = b.shape.slice(0, -2).reduce((p, q) => p * q, 1);
    if (k !== kB) return original(args); // let the stock kernel produce its error message
    const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
    const batch = outer.reduce((p, q) => p * q, 1);
    const plain = !transposeA && !transposeB && batchA === 1 && batchB === 1;
    const broadcastOk = batchA === batchB || batchA === 1 || batchB === 1;
    const big = m * n * k >= MIN_MACS_PER_BATCH_FOR_SPLIT;
    if (plain || !broadcastOk || !big || m * n * k === 0) return original(args);
    // Only take over when the batch layouts line up with a flat [batch, …] view (same outer shape or rank-1
    // broadcasting), which is what every tfjs op produces.
    if (batchA !== 1 && batchB !== 1 && outer.length !== a.shape.length - 2) return original(args);

    return withScope(wasm, (s) => {
      const call = (x: TensorInfo, y: TensorInfo): TensorInfo =>
        s.run('BatchMatMul', { a: x, b: y }, { transposeA: false, transposeB: false });
      const at = s.reshape(a, [batchA, transposeA ? k : m, transposeA ? m : k]);
      const bt = s.reshape(b, [batchB, transposeB ? n : k, transposeB ? k : n]);
      const a3 = transposeA ? s.transpose(at, [0, 2, 1]) : at; // [batchA, m, k]
      const b3 = transposeB ? s.transpose(bt, [0, 2, 1]) : bt; // [batchB, k, n]
      if (batchB === 1) {
        const y = call(s.reshape(a3, [1, batchA * m, k]), b3);
        return s.reshape(y, [...outer, m, n]);
      }
      const parts: TensorInfo[] = [];
      for (let i = 0; i < batch; i++) {
        const ai = batchA === 1 ? a3 : s.range(a3, i * m * k, [1, m, k]);
        const bi = s.range(b3, i * k * n, [1, k, n]);
        parts.push(call(ai, bi));
      }
      const out = s.output([batch, m, n]);
      const heap = heapF32(wasm);
      const outOff = floatOffset(wasm, out);
      parts.forEach((p, i) => {
        const src = floatOffset(wasm, p);
        heap.copyWithin(outOff + i * m * n, src, src + m * n);
      });
      return s.reshape(out, [...outer, m, n]);
    });
  };
  return fast;
}

// ---------------------------------------------------------------------------------------------------------------
// Identity. The stock wasm kernel copies the tensor, and TF.js runs it for every tensor a gradient keeps (the
// engine's clone while the tape records): one casam-small training step (6 images × 5 prompts) made ~120 such
// copies, 190 of its 2500 kernel-ms on one thread. Tensors are immutable and the wasm backend counts references
// to a buffer (its Reshape shares one the same way), so the result shares the input's buffer, as the cpu
// backend's Identity does. Strings keep the stock kernel.
// ---------------------------------------------------------------------------------------------------------------

function sharedIdentity(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (x.dtype === 'string') return original(args);
    (args.backend as BackendWasm).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}

// ---------------------------------------------------------------------------------------------------------------
// MaxPoolGrad. The stock wasm kernel starts its running maximum at 0, so in a window whose values are all
// negative it routes the gradient to the window's first element instead of its maximum (and loses it when
// windows overlap). Replacement: first strict maximum over the valid (unpadded) window, as the cpu backend.
// ---------------------------------------------------------------------------------------------------------------

const maxPoolGrad: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as BackendWasm;
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
  assertFloat32('MaxPoolGrad', dy, input);
  const info = tf.backend_util.computePool2DInfo(
    input.shape as Shape4,
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, strideHeight, strideWidth } = info;
  const fh = info.effectiveFilterHeight;
  const fw = info.effectiveFilterWidth;
  const dx = wasm.makeOutput(input.shape, 'float32');
  const heap = heapF32(wasm);
  const xOff = floatOffset(wasm, input);
  const dyOff = floatOffset(wasm, dy);
  const dxOff = floatOffset(wasm, dx);
  const total = batchSize * inHeight * inWidth * inChannels;
  heap.fill(0, dxOff, dxOff + total);
  for (let b = 0; b < batchSize; b++) {
    const img = b * inHeight * inWidth * inChannels;
    for (let oy = 0; oy < outHeight; oy++) {
      const y0 = oy * strideHeight - info.padInfo.top;
      const yLo = Math.max(0, y0);
      const yHi = Math.min(inHeight, y0 + fh);
      for (let ox = 0; ox < outWidth; ox++) {
        const x0 = ox * strideWidth - info.padInfo.left;
        const xLo = Math.max(0, x0);
        const xHi = Math.min(inWidth, x0 + fw);
        const dyBase = dyOff + ((b * outHeight + oy) * outWidth + ox) * inChannels;
        for (let c = 0; c < inChannels; c++) {
          let best = -Infinity;
          let at = -1;
          for (let y = yLo; y < yHi; y++) {
            for (let x = xLo; x < xHi; x++) {
              const i = img + (y * inWidth + x) * inChannels + c;
              const v = heap[xOff + i];
              if (v > best || at < 0) {
                best = v;
                at = i;
              }
            }
          }
          if (at >= 0) heap[dxOff + at] += heap[dyBase + c];
        }
      }
    }
  }
  return dx;
};

// ---------------------------------------------------------------------------------------------------------------

/** Kernels added because the wasm backend has none (names as in tfjs-core's kernel_names). */
export const WASM_ADDED_KERNELS = [
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'UnsortedSegmentSum',
] as const;

/** Stock wasm kernels replaced by faster versions (XNNPACK paths; Identity shares instead of copying). */
export const WASM_ACCELERATED_KERNELS = ['Conv2DBackpropInput', 'BatchMatMul', 'Identity'] as const;

/**
 * Stock wasm kernels replaced because they compute wrong results: MaxPoolGrad (all-negative windows) and
 * ResizeBilinearGrad (ignores halfPixelCenters; see resize-bilinear-grad.ts).
 */
export const WASM_FIXED_KERNELS = ['MaxPoolGrad', 'ResizeBilinearGrad'] as const;

const added: Record<(typeof WASM_ADDED_KERNELS)[number], tf.KernelFunc> = {
  Conv2DBackpropFilter: conv2DBackpropFilter,
  DepthwiseConv2dNativeBackpropFilter: depthwiseBackpropFilter,
  DepthwiseConv2dNativeBackpropInput: depthwiseBackpropInput,
  UnsortedSegmentSum: unsortedSegmentSum,
};

/** Marks kernel functions installed by this module, so registration is idempotent across module copies. */
const MARK = Symbol.for('casam.wasmTrainingKernel');
type Marked = tf.KernelFunc & { [MARK]?: true };

function mark(f: tf.KernelFunc): tf.KernelFunc {
  (f as Marked)[MARK] = true;
  return f;
}

function isOurs(name: string): boolean {
  const k = tf.getKernel(name, WASM);
  return k != null && (k.kernelFunc as Marked)[MARK] === true;
}

export interface WasmKernelRegistration {
  /** Kernels this call (or an earlier one) added because the backend had none. */
  added: string[];
  /** Stock kernels wrapped with a faster implementation. */
  accelerated: string[];
  /** Stock kernels replaced because they are wrong. */
  fixed: string[];
  /** Kernels the cpu backend has that wasm still lacks after registration (none of them used by training). */
  stillMissing: string[];
}

/**
 * Registers (once) the wasm kernels training needs. Safe to call before or after the wasm backend is
 * initialised, and any number of times. Pass `{ accelerate: false }` to leave the stock Conv2DBackpropInput,
 * BatchMatMul and Identity in place (the added kernels still use the stock BatchMatMul's fast path).
 */
export function registerWasmTrainingKernels(opts: { accelerate?: boolean } = {}): WasmKernelRegistration {
  const result: WasmKernelRegistration = { added: [], accelerated: [], fixed: [], stillMissing: [] };
  for (const name of WASM_ADDED_KERNELS) {
    if (tf.getKernel(name, WASM) == null)
      tf.registerKernel({ kernelName: name, backendName: WASM, kernelFunc: mark(added[name]) });
    if (isOurs(name)) result.added.push(name);
  }
  const maxPoolStock = tf.getKernel('MaxPoolGrad', WASM);
  if (maxPoolStock != null && !isOurs('MaxPoolGrad')) {
    tf.unregisterKernel('MaxPoolGrad', WASM);
    tf.registerKernel({ ...maxPoolStock, kernelFunc: mark(maxPoolGrad) });
  }
  if (isOurs('MaxPoolGrad')) result.fixed.push('MaxPoolGrad');
  if (registerResizeBilinearGradFix(WASM)) result.fixed.push('ResizeBilinearGrad');
  if (opts.accelerate !== false) {
    for (const name of WASM_ACCELERATED_KERNELS) {
      const stock = tf.getKernel(name, WASM);
      if (stock == null) continue;
      if (!isOurs(name)) {
        const kernelFunc =
          name === 'BatchMatMul'
            ? fastBatchMatMul(stock.kernelFunc)
            : name === 'Identity'
              ? sharedIdentity(stock.kernelFunc)
              : conv2DBackpropInput;
        tf.unregisterKernel(name, WASM);
        tf.registerKernel({ ...stock, kernelFunc: mark(kernelFunc) });
      }
      result.accelerated.push(name);
    }
  }
  const have = new Set(tf.getKernelsForBackend(WASM).map((k) => k.kernelName));
  result.stillMissing = tf
    .getKernelsForBackend('cpu')
    .map((k) => k.kernelName)
    .filter((k) => !have.has(k));
  return result;
}
