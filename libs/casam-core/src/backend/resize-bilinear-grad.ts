/**
 * A correct ResizeBilinearGrad for the wasm and cpu backends.
 *
 * In tfjs 4.22 both backends' ResizeBilinearGrad ignore `halfPixelCenters`: with half-pixel centres (the
 * PyTorch `align_corners=False` convention SAM's mask post-processing uses) the gradient is not the adjoint of
 * the forward resize. The cpu kernel also swaps height and width for non-square images (shape error). This
 * kernel is the exact adjoint of the forward ResizeBilinear of both backends: every output pixel's gradient
 * is spread to the (up to) four source pixels with the same indices and weights the forward used.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { tf } from '../sam/tf';

type TensorInfo = tf.TensorInfo;

/** Source index pairs and weights along one axis, as the forward kernels compute them. */
function axisTaps(
  inSize: number,
  outSize: number,
  alignCorners: boolean,
  halfPixel: boolean,
): { lo: Int32Array; hi: Int32Array; frac: Float32Array } {
  const effIn = alignCorners && outSize > 1 ? inSize - 1 : inSize;
  const effOut = alignCorners && outSize > 1 ? outSize - 1 : outSize;
  const ratio = effIn / effOut;
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const frac = new Float32Array(outSize);
  for (let i = 0; i < outSize; i++) {
    const src = halfPixel ? ratio * (i + 0.5) - 0.5 : ratio * i;
    const floor = Math.max(0, Math.floor(src));
    lo[i] = floor;
    hi[i] = Math.min(inSize - 1, Math.ceil(src));
    frac[i] = src - floor;
  }
  return { lo, hi, frac };
}

/** dx (zeroed by the caller, [b, inH, inW, c]) += adjoint of the bilinear resize applied to dy [b, outH, outW, c]. */
export function resizeBilinearAdjoint(
  dy: Float32Array,
  dyOff: number,
  dx: Float32Array,
  dxOff: number,
  shape: { batch: number; inH: number; inW: number; outH: number; outW: number; channels: number },
  alignCorners: boolean,
  halfPixel: boolean,
): void {
  const { batch, inH, inW, outH, outW, channels: c } = shape;
  const rows = axisTaps(inH, outH, alignCorners, halfPixel);
  const cols = axisTaps(inW, outW, alignCorners, halfPixel);
  let g = dyOff;
  for (let b = 0; b < batch; b++) {
    const img = dxOff + b * inH * inW * c;
    for (let r = 0; r < outH; r++) {
      const rf = rows.frac[r];
      const top = img + rows.lo[r] * inW * c;
      const bot = img + rows.hi[r] * inW * c;
      for (let q = 0; q < outW; q++, g += c) {
        const cf = cols.frac[q];
        const wTL = (1 - rf) * (1 - cf);
        const wTR = (1 - rf) * cf;
        const wBL = rf * (1 - cf);
        const wBR = rf * cf;
        const left = cols.lo[q] * c;
        const right = cols.hi[q] * c;
        for (let d = 0; d < c; d++) {
          const v = dy[g + d];
          dx[top + left + d] += v * wTL;
          dx[top + right + d] += v * wTR;
          dx[bot + left + d] += v * wBL;
          dx[bot + right + d] += v * wBR;
        }
      }
    }
  }
}

function shapeOf(images: TensorInfo, dy: TensorInfo) {
  const [batch, inH, inW, channels] = images.shape;
  return { batch, inH, inW, outH: dy.shape[1], outW: dy.shape[2], channels };
}

const wasmKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as BackendWasm;
  const { images, dy } = inputs as { images: TensorInfo; dy: TensorInfo };
  const { alignCorners, halfPixelCenters } = attrs as unknown as tf.ResizeBilinearGradAttrs;
  const dx = wasm.makeOutput(images.shape, 'float32');
  const u8 = (wasm.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8;
  const heap = new Float32Array(u8.buffer, 0, u8.byteLength >>> 2);
  const dxOff = wasm.getMemoryOffset(dx.dataId) >>> 2;
  const size = images.shape.reduce((a, b) => a * b, 1);
  heap.fill(0, dxOff, dxOff + size);
  const dyOff = wasm.getMemoryOffset(dy.dataId) >>> 2;
  resizeBilinearAdjoint(heap, dyOff, heap, dxOff, shapeOf(images, dy), alignCorners, halfPixelCenters);
  return dx;
};

const cpuKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const cpu = backend as MathBackendCPU;
  const { images, dy } = inputs as { images: TensorInfo; dy: TensorInfo };
  const { alignCorners, halfPixelCenters } = attrs as unknown as tf.ResizeBilinearGradAttrs;
  const dyValues = cpu.data.get(dy.dataId).values as Float32Array;
  const dx = new Float32Array(images.shape.reduce((a, b) => a * b, 1));
  resizeBilinearAdjoint(dyValues, 0, dx, 0, shapeOf(images, dy), alignCorners, halfPixelCenters);
  return cpu.makeTensorInfo(images.shape, 'float32', dx);
};

const MARK = Symbol.for('casam.resizeBilinearGradFix');
type Marked = tf.KernelFunc & { [MARK]?: true };

/**
 * Replaces ResizeBilinearGrad on `backend` ('wasm' | 'cpu') with the exact adjoint. Idempotent; returns
 * whether the fix is in place (false if the backend has no such kernel registered).
 */
export function registerResizeBilinearGradFix(backend: 'wasm' | 'cpu'): boolean {
  const stock = tf.getKernel('ResizeBilinearGrad', backend);
  if (stock == null) return false;
  if ((stock.kernelFunc as Marked)[MARK] === true) return true;
  const kernelFunc = (backend === 'wasm' ? wasmKernel : cpuKernel) as Marked;
  kernelFunc[MARK] = true;
  tf.unregisterKernel('ResizeBilinearGrad', backend);
  tf.registerKernel({ kernelName: 'ResizeBilinearGrad', backendName: backend, kernelFunc });
  return true;
}
