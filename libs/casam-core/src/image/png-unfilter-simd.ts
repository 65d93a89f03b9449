/**
 * PNG row unfiltering for 8-bit RGB and RGBA images as a WebAssembly SIMD kernel, one pixel per step with its
 * channels in the lanes of an i16x8 vector: the Paeth predictor (PNG spec 9.4), Average, Sub and Up each in a few
 * vector instructions per pixel where the plain-JS loops in image-io.ts spend a few per byte. A pixel depends on
 * the one to its left, so pixels cannot share a vector; the channels can. `serve` decodes a PNG per request; the
 * benchmark's 256² RGBA PNG (Paeth rows) is about half unfiltering (numbers in the commit).
 *
 * The module is written here byte by byte (four row loops and an RGBA → RGB repack; helpers in
 * wasm/wasm-bytes.ts), as the router's kernel is (casam/simd-dense.ts): no toolchain, no build step. Where
 * WebAssembly SIMD is missing, or an image would need more than MAX_KERNEL_BYTES of kernel memory, `decodePngFast`
 * keeps its plain-JS loops.
 *
 * Layout in the kernel's memory: a zero row (the row above the first), the inflated image data as the PNG holds
 * it (a filter-type byte, then the row), then the RGB output; each followed by 16 bytes of slack, because a step
 * reads 8 bytes at a pixel (3 or 4 used) and the repack reads and writes 16 at a time.
 */
import { ascii, get, i32, leb, section, set, tee, wasmApi } from '../wasm/wasm-bytes';

const simd = (op: number, ...imm: number[]) => [0xfd, ...leb(op), ...imm];
const I32_ADD = 0x6a;
const I32_MUL = 0x6c;
const I32_EQ = 0x46;
const I32_SUB = 0x6b;
const I32_SHL = 0x74;
const I32_LT_U = 0x49;
const I32_GE_U = 0x4f;
const LOAD_8X8_U = simd(0x02, 0x00, 0x00); // i16x8.load8x8_u: 8 bytes, each widened to a 16-bit lane
const V128_LOAD = simd(0x00, 0x00, 0x00);
const V128_STORE = simd(0x0b, 0x00, 0x00);
const STORE32_LANE0 = simd(0x5a, 0x00, 0x00, 0x00); // v128.store32_lane, lane 0: the pixel's 4 bytes
const V128_AND = simd(0x4e);
const V128_OR = simd(0x50);
const BITSELECT = simd(0x52); // (v1, v2, m) → v1 where m, else v2
const I16_SPLAT = simd(0x10);
const I16_ABS = simd(0x80);
const I16_ADD = simd(0x8e);
const I16_SUB = simd(0x91);
const I16_LE_S = simd(0x33);
const I16_SHR_U = simd(0x8d);
const NARROW_U = simd(0x66); // i8x16.narrow_i16x8_u
const SWIZZLE = simd(0x0e);
const v128 = (bytes: number[]) => simd(0x0c, ...bytes);
const i16Lanes = (lanes: number[]) => v128(lanes.flatMap((v) => [v & 0xff, (v >> 8) & 0xff]));

// (func (param $cur $prev $n $bpp i32)): unfilters in place the n pixels (bpp = 3 or 4 bytes each) of the row at
// $cur, the row above (already unfiltered) at $prev. Locals: $end; $a (left, unfiltered), $c (above-left), $b
// (above), $mask (lanes of the pixel's channels: 3, or 4 with bpp 4), $pa $pb $pc (Paeth distances).
const [CUR, PREV, N, BPP, END] = [0, 1, 2, 3, 4];
const [A, C, B, MASK, PA, PB, PC] = [5, 6, 7, 8, 9, 10, 11];

/**
 * One filter's row loop; `predictor` pushes the prediction (i16x8) from $a, $b, $c. out = (filtered +
 * prediction) mod 256 per channel; with bpp 3 the fourth lane's prediction is masked to 0, so the step stores the
 * next pixel's first byte back unchanged.
 */
// prettier-ignore
const rowLoop = (predictor: number[]): number[] => [
  0x02, 0x01, 0x7f, 0x07, 0x7b, // locals: 1 × i32, 7 × v128
  ...i16Lanes([0xffff, 0xffff, 0xffff, 0, 0, 0, 0, 0]),
  ...i32(0), ...get(BPP), ...i32(4), I32_EQ, I32_SUB, ...I16_SPLAT, ...V128_OR, ...set(MASK),
  ...get(CUR), ...get(N), ...get(BPP), I32_MUL, I32_ADD, ...set(END),
  0x02, 0x40, // block: nothing to do for an empty row
  ...get(CUR), ...get(END), I32_GE_U, 0x0d, 0x00,
  0x03, 0x40, // loop over the pixels
  ...get(PREV), ...LOAD_8X8_U, ...set(B),
  ...get(CUR), // the store's address
  ...get(CUR), ...LOAD_8X8_U, // the filtered bytes
  ...predictor, ...get(MASK), ...V128_AND,
  ...I16_ADD, ...i16Lanes(new Array<number>(8).fill(0xff)), ...V128_AND, ...tee(A),
  ...get(A), ...NARROW_U, ...STORE32_LANE0,
  ...get(B), ...set(C),
  ...get(PREV), ...get(BPP), I32_ADD, ...set(PREV),
  ...get(CUR), ...get(BPP), I32_ADD, ...tee(CUR), ...get(END), I32_LT_U, 0x0d, 0x00,
  0x0b,
  0x0b,
  0x0b,
];

const SUB = get(A);
const UP = get(B);
const AVERAGE = [...get(A), ...get(B), ...I16_ADD, ...i32(1), ...I16_SHR_U];
// prettier-ignore
const PAETH = [
  // pa = |b − c|, pb = |a − c|, pc = |a + b − 2c| (the spec's |p − a|, |p − b|, |p − c| with p = a + b − c)
  ...get(B), ...get(C), ...I16_SUB, ...I16_ABS, ...set(PA),
  ...get(A), ...get(C), ...I16_SUB, ...I16_ABS, ...set(PB),
  ...get(A), ...get(B), ...I16_ADD, ...get(C), ...I16_SUB, ...get(C), ...I16_SUB, ...I16_ABS, ...set(PC),
  // pa ≤ pb and pa ≤ pc: a; else pb ≤ pc: b; else c
  ...get(A),
  ...get(B), ...get(C), ...get(PB), ...get(PC), ...I16_LE_S, ...BITSELECT,
  ...get(PA), ...get(PB), ...I16_LE_S, ...get(PA), ...get(PC), ...I16_LE_S, ...V128_AND,
  ...BITSELECT,
];

// (func (param $src $dst $n i32)): n RGBA pixels at $src → RGB at $dst, four pixels (16 → 12 bytes) a step;
// the last step may read up to 15 bytes past the row and write up to 4 past it.
const [SRC, DST, NPX, SEND] = [0, 1, 2, 3];
// prettier-ignore
const REPACK = [
  0x01, 0x01, 0x7f, // locals: 1 × i32
  ...get(SRC), ...get(NPX), ...i32(2), I32_SHL, I32_ADD, ...set(SEND),
  0x02, 0x40,
  ...get(SRC), ...get(SEND), I32_GE_U, 0x0d, 0x00,
  0x03, 0x40,
  ...get(DST), ...get(SRC), ...V128_LOAD,
  ...v128([0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 0x80, 0x80, 0x80, 0x80]), ...SWIZZLE, ...V128_STORE,
  ...get(DST), ...i32(12), I32_ADD, ...set(DST),
  ...get(SRC), ...i32(16), I32_ADD, ...tee(SRC), ...get(SEND), I32_LT_U, 0x0d, 0x00,
  0x0b,
  0x0b,
  0x0b,
];

const BODIES = [rowLoop(SUB), rowLoop(UP), rowLoop(AVERAGE), rowLoop(PAETH), REPACK];
const NAMES = ['sub', 'up', 'average', 'paeth', 'repack'];

// prettier-ignore
const MODULE_BYTES = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  // types: 0 = (i32 ×4) → (), 1 = (i32 ×3) → ()
  ...section(1, [0x02, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x00, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00]),
  ...section(2, [0x01, 0x01, 0x65, 0x01, 0x6d, 0x02, 0x00, 0x01]), // import "e" "m" memory, min 1 page
  ...section(3, [0x05, 0x00, 0x00, 0x00, 0x00, 0x01]),
  ...section(7, [0x05, ...NAMES.flatMap((n, i) => [...leb(n.length), ...ascii(n), 0x00, i])]),
  ...section(10, [0x05, ...BODIES.flatMap((b) => [...leb(b.length), ...b])]),
]);

/** Largest kernel memory an image may use (beyond it the plain-JS loops run): 64 MiB, e.g. a 2800² RGBA PNG. */
export const MAX_KERNEL_BYTES = 64 * 2 ** 20;

type RowFn = (cur: number, prev: number, n: number, bpp: number) => void;
interface Kernel {
  memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  rows: (RowFn | null)[]; // by filter type: None (null), Sub, Up, Average, Paeth
  repack: (src: number, dst: number, n: number) => void;
}

let kernel: Kernel | null | undefined;

function getKernel(): Kernel | null {
  if (kernel === undefined) {
    try {
      const api = wasmApi!;
      const memory = new api.Memory({ initial: 1 });
      const e = new api.Instance(new api.Module(MODULE_BYTES), { e: { m: memory } }).exports;
      kernel = {
        memory,
        rows: [null, ...['sub', 'up', 'average', 'paeth'].map((n) => e[n] as RowFn)],
        repack: e['repack'] as Kernel['repack'],
      };
    } catch {
      kernel = null; // no WebAssembly SIMD here
    }
  }
  return kernel;
}

/** Whether this runtime runs the kernel. */
export function pngUnfilterSimdAvailable(): boolean {
  return getKernel() !== null;
}

const align16 = (n: number) => (n + 15) & ~15;

/**
 * The RGB pixels of 8-bit RGB (`bpp` 3) or RGBA (4, alpha dropped) PNG image data as inflated (each row a filter
 * type byte, then width × bpp bytes), or null where the kernel does not run or the image would need more than
 * MAX_KERNEL_BYTES. Throws `badFilter(type, row)` for a filter type above 4. The caller checked the data's length.
 */
export function unfilterRgbSimd(
  inflated: Uint8Array,
  width: number,
  height: number,
  bpp: 3 | 4,
  badFilter: (type: number, row: number) => Error,
): Uint8Array | null {
  const stride = width * bpp;
  const zeroAt = 0;
  const rawAt = align16(stride + 16);
  const outAt = align16(rawAt + inflated.length + 16);
  const rgbBytes = width * height * 3;
  const total = outAt + rgbBytes + 16;
  if (total > MAX_KERNEL_BYTES) return null;
  const k = getKernel();
  if (!k) return null;
  const have = k.memory.buffer.byteLength;
  if (total > have) k.memory.grow(Math.ceil((total - have) / 65536));
  const mem = new Uint8Array(k.memory.buffer);
  mem.fill(0, zeroAt, zeroAt + stride + 16);
  mem.set(inflated, rawAt);
  for (let y = 0; y < height; y++) {
    const r = rawAt + y * (stride + 1);
    const type = mem[r];
    if (type > 4) throw badFilter(type, y);
    const row = k.rows[type];
    if (row) row(r + 1, y === 0 ? zeroAt : r - stride, width, bpp);
  }
  const out = new Uint8Array(rgbBytes);
  for (let y = 0; y < height; y++) {
    const from = rawAt + y * (stride + 1) + 1;
    if (bpp === 4) k.repack(from, outAt + y * width * 3, width);
    else out.set(mem.subarray(from, from + stride), y * stride);
  }
  if (bpp === 4) out.set(mem.subarray(outAt, outAt + rgbBytes));
  return out;
}
