/**
 * y = W·x + b for small dense layers, as a WebAssembly SIMD kernel (f32x4, four rows at a time), the squared
 * norms of NCHW positions, GELU in place (f64x2, see GELU_BODY) and a TaskVAE's score from its decoder's output
 * (reconstruction error + β·KL in float64, see SCORE_BODY): the router's VAE layers (64→128→64 per task) and the
 * attention pooling. Node's V8 never vectorises plain JS
 * loops, and these layers are too small for a TF.js or ORT call to pay for its dispatch; this kernel does 4–8
 * multiply-adds per instruction with no call overhead beyond one JS → wasm call per layer.
 *
 * The module is written here byte by byte (a few small functions; no toolchain, no build step, nothing generated
 * or committed besides this file; the encoding helpers are in wasm/wasm-bytes.ts) and compiled once. Where
 * WebAssembly SIMD is missing, `simdDenseAvailable()` is false and callers keep their plain-JS loops.
 *
 * Memory: each kernel instance owns a WebAssembly.Memory; callers place weights, inputs and outputs in it at
 * float offsets (multiples of 4 floats, so every v128 load is 16-byte aligned) and read `f32` views of it.
 */
import { ascii, get, i32, leb, section, set, tee, wasmApi } from '../wasm/wasm-bytes';

// (func (param $w $b $x $y $in $out i32)
//   for o in 0, 4, 8, … < out:                    four rows at a time, so each x load serves four products
//     p0..p3 = the rows' starts; a0..a3 = 0
//     for xp over x, 4 floats a step: xv = x[xp]; a_r += W[p_r]·xv; p_r += 4
//     y[o + r] = (lanes of a_r summed) + b[o + r])
// `in` and `out` must be positive multiples of 4 (checked by the JS wrapper).
const [W, B, X, Y, IN, OUT] = [0, 1, 2, 3, 4, 5];
const [O, P0, P1, P2, P3, XP, XE, RS] = [6, 7, 8, 9, 10, 11, 12, 13];
const [A0, A1, A2, A3, XV] = [14, 15, 16, 17, 18];
const P = [P0, P1, P2, P3];
const A = [A0, A1, A2, A3];
const ADD = 0x6a;
const MUL = 0x6c;
const LT_U = 0x49;
const V128_LOAD = [0xfd, 0x00, 0x04, 0x00]; // align 2^4, offset 0
const load = (offset: number) => [0xfd, 0x00, 0x04, ...leb(offset)]; // v128.load, align 2^4
const F32X4_ADD = [0xfd, 0xe4, 0x01];
const F32X4_MUL = [0xfd, 0xe6, 0x01];
const lane = (k: number) => [0xfd, 0x1f, k]; // f32x4.extract_lane
const ZERO = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
// prettier-ignore
const BODY = [
  0x02, 0x08, 0x7f, 0x05, 0x7b, // locals: 8 × i32, 5 × v128
  ...i32(0), ...set(O),
  ...get(IN), ...i32(2), 0x74, ...set(RS),
  ...get(X), ...get(RS), ADD, ...set(XE),
  0x03, 0x40, // loop over blocks of four rows
  ...get(W), ...get(O), ...get(RS), MUL, ADD, ...set(P0),
  ...get(P0), ...get(RS), ADD, ...set(P1),
  ...get(P1), ...get(RS), ADD, ...set(P2),
  ...get(P2), ...get(RS), ADD, ...set(P3),
  ...get(X), ...set(XP),
  ...A.flatMap((a) => [...ZERO, ...set(a)]),
  0x03, 0x40, // loop along the rows
  ...get(XP), ...V128_LOAD, ...set(XV),
  ...[0, 1, 2, 3].flatMap((r) => [
    ...get(A[r]), ...get(P[r]), ...V128_LOAD, ...get(XV), ...F32X4_MUL, ...F32X4_ADD, ...set(A[r]),
    ...get(P[r]), ...i32(16), ADD, ...set(P[r]),
  ]),
  ...get(XP), ...i32(16), ADD, ...tee(XP), ...get(XE), LT_U, 0x0d, 0x00,
  0x0b,
  ...[0, 1, 2, 3].flatMap((r) => [
    ...get(Y), ...get(O), ...i32(2), 0x74, ADD, // address y + o·4 (+ r·4 as the store's offset)
    ...get(A[r]), ...lane(0), ...get(A[r]), ...lane(1), 0x92, ...get(A[r]), ...lane(2), 0x92,
    ...get(A[r]), ...lane(3), 0x92,
    ...get(B), ...get(O), ...i32(2), 0x74, ADD, 0x2a, 0x02, r * 4, 0x92, // + b[o + r]
    0x38, 0x02, r * 4, // f32.store offset r·4
  ]),
  ...get(O), ...i32(4), ADD, ...tee(O), ...get(OUT), LT_U, 0x0d, 0x00,
  0x0b,
  0x0b,
];

// (func $sumsq (param $z $s $c $hw i32): s[p] += Σ_ch z[ch·hw + p]² for p < hw (the attention pooling's squared
// norms over channels, NCHW). `hw` a positive multiple of 4, `c` ≥ 1. Positions outer, channels inner: 32
// positions at a time are held in eight f32x4 registers while the channels stream past (four positions at a time
// for the rest), instead of reading and writing s once per channel and position; each s[p] still gets its
// channels' squares added in channel order, so the sums are the same float32 numbers as before, bit for bit.
const [SZ, SS, SC, SHW, CH, ZP, SP, SE, ROW, E32] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
const V = 10;
const SACC = (j: number) => 11 + j;
const I32_SUB = 0x6b;
/** Blocks of 4·n positions from SP up to `end`, n accumulators. */
// prettier-ignore
const sumsqBlocks = (n: number, end: number): number[] => {
  const js = [...Array(n).keys()];
  return [
    ...get(SP), ...get(end), LT_U, 0x04, 0x40, // if a block is left
    0x03, 0x40, // loop over blocks
    ...js.flatMap((j) => [...get(SP), ...load(16 * j), ...set(SACC(j))]),
    ...get(SZ), ...get(SP), ...get(SS), I32_SUB, ADD, ...set(ZP), // z of channel 0 at these positions
    ...get(SC), ...set(CH),
    0x03, 0x40, // loop over channels
    ...js.flatMap((j) => [
      ...get(SACC(j)), ...get(ZP), ...load(16 * j), ...tee(V), ...get(V), ...F32X4_MUL, ...F32X4_ADD, ...set(SACC(j)),
    ]),
    ...get(ZP), ...get(ROW), ADD, ...set(ZP),
    ...get(CH), ...i32(1), I32_SUB, ...tee(CH), 0x0d, 0x00,
    0x0b,
    ...js.flatMap((j) => [...get(SP), ...get(SACC(j)), 0xfd, 0x0b, 0x04, ...leb(16 * j)]), // v128.store
    ...get(SP), ...i32(16 * n), ADD, ...tee(SP), ...get(end), LT_U, 0x0d, 0x00,
    0x0b,
    0x0b,
  ];
};
// prettier-ignore
const SUMSQ_BODY = [
  0x02, 0x06, 0x7f, 0x09, 0x7b, // locals: 6 × i32, 9 × v128
  ...get(SHW), ...i32(2), 0x74, ...set(ROW), // bytes per channel
  ...get(SS), ...get(ROW), ADD, ...set(SE),
  ...get(SS), ...get(SHW), ...i32(-32), 0x71, ...i32(2), 0x74, ADD, ...set(E32), // end of the whole 32s
  ...get(SS), ...set(SP),
  ...sumsqBlocks(8, E32),
  ...sumsqBlocks(1, SE),
  0x0b,
];

// (func $densec (param $w $b $x $y $in $out i32)): the same y = W·x + b with W stored in column blocks of 8
// rows — block j is [in][8], rows 8j…8j+7 side by side for each input — so one x value (splat) serves eight
// products and the weights stream in order. Four accumulator pairs, one per input index mod 4, add up exactly the
// products that `dense`'s four lanes add, in the same order, and are reduced ((a0 + a1) + a2) + a3 + b as
// `dense` reduces its lanes: the same float32 result, bit for bit (spec). `in` a multiple of 4, `out` of 8.
const [CO, CXP, CXE] = [6, 7, 8];
const CA = (k: number, v: number) => 9 + 2 * k + v;
const CXS = 17;
const LOAD32_SPLAT = (offset: number) => [0xfd, 0x09, 0x02, ...leb(offset)];
// prettier-ignore
const DENSEC_BODY = [
  0x02, 0x03, 0x7f, 0x09, 0x7b, // locals: 3 × i32, 9 × v128
  ...i32(0), ...set(CO),
  ...get(X), ...get(IN), ...i32(2), 0x74, ADD, ...set(CXE),
  0x03, 0x40, // loop over blocks of eight rows
  ...get(X), ...set(CXP),
  ...[0, 1, 2, 3].flatMap((k) => [0, 1].flatMap((v) => [...ZERO, ...set(CA(k, v))])),
  0x03, 0x40, // loop along the inputs, four a turn
  ...[0, 1, 2, 3].flatMap((k) => [
    ...get(CXP), ...LOAD32_SPLAT(4 * k), ...set(CXS),
    ...[0, 1].flatMap((v) => [
      ...get(CA(k, v)), ...get(W), ...load(32 * k + 16 * v), ...get(CXS), ...F32X4_MUL, ...F32X4_ADD, ...set(CA(k, v)),
    ]),
  ]),
  ...get(W), ...i32(128), ADD, ...set(W),
  ...get(CXP), ...i32(16), ADD, ...tee(CXP), ...get(CXE), LT_U, 0x0d, 0x00,
  0x0b,
  ...[0, 1].flatMap((v) => [
    ...get(Y), ...get(CO), ...i32(2), 0x74, ADD,
    ...get(CA(0, v)), ...get(CA(1, v)), ...F32X4_ADD, ...get(CA(2, v)), ...F32X4_ADD, ...get(CA(3, v)), ...F32X4_ADD,
    ...get(B), ...get(CO), ...i32(2), 0x74, ADD, ...load(16 * v), ...F32X4_ADD,
    0xfd, 0x0b, 0x04, ...leb(16 * v), // v128.store
  ]),
  ...get(CO), ...i32(8), ADD, ...tee(CO), ...get(OUT), LT_U, 0x0d, 0x00,
  0x0b,
  0x0b,
];

// (func $gelu (param $p $n i32)): GELU in place on n floats (n a positive multiple of 2) as fast-router.ts's
// float64 JS computes it, in f64x2 lanes: g = ½x·(1 + erf(x/√2)), erf by Abramowitz & Stegun 7.1.26, e^(−u) by
// expSteps (u capped at 700). Each result is rounded to float32 on store, as the JS store into the kernel's
// Float32Array view does.
// Why this shape: GELU was a third of routing's time (2304 values per route, ~70 cycles per pair), bound by the
// latency of one long dependent chain per pair, not by arithmetic. So the loop runs two independent chains (four
// floats) a turn, the exp polynomial is evaluated by Estrin's scheme (depth 4 instead of 12 dependent mul+add), the
// floats are widened/narrowed two at a time (promote_low / demote_zero instead of scalar loads, converts and lane
// inserts), and the cap uses pmin (one minpd; min's NaN rules cost V8 six instructions). Every lane still computes
// the same formula in float64; only the rounding of the e^r polynomial's sum changed (~1e-16 relative), far below
// the float32 store's 6e-8, so the results match Math.exp's formula bit for bit on the spec's 20k values.
const [GP, GN, GE4, GE] = [0, 1, 2, 3];
const f64x2 = (v: number): number[] => {
  const b = new DataView(new ArrayBuffer(16));
  b.setFloat64(0, v, true);
  b.setFloat64(8, v, true);
  return [0xfd, 0x0c, ...new Uint8Array(b.buffer)];
};
const i64x2 = (v: bigint): number[] => {
  const b = new DataView(new ArrayBuffer(16));
  b.setBigInt64(0, v, true);
  b.setBigInt64(8, v, true);
  return [0xfd, 0x0c, ...new Uint8Array(b.buffer)];
};
const F64X2_ABS = [0xfd, 0xec, 0x01];
const F64X2_NEG = [0xfd, 0xed, 0x01];
const F64X2_ADD = [0xfd, 0xf0, 0x01];
const F64X2_SUB = [0xfd, 0xf1, 0x01];
const F64X2_MUL = [0xfd, 0xf2, 0x01];
const F64X2_DIV = [0xfd, 0xf3, 0x01];
const F64X2_PMIN = [0xfd, 0xf6, 0x01]; // b < a ? b : a per lane (a NaN a stays NaN)
const F64X2_PMAX = [0xfd, 0xf7, 0x01]; // a < b ? b : a per lane (a NaN a stays NaN)
const F64X2_GT = [0xfd, 0x4a];
const F64X2_PROMOTE_LOW = [0xfd, 0x5f];
const F32X4_DEMOTE_ZERO = [0xfd, 0x5e];
const V128_BITSELECT = [0xfd, 0x52];
const I64X2_ADD = [0xfd, 0xce, 0x01];
const I64X2_SHL = [0xfd, 0xcb, 0x01];
const V128_AND = [0xfd, 0x4e];
const V128_OR = [0xfd, 0x50];
const load64Zero = (offset: number) => [0xfd, 0x5d, 0x03, ...leb(offset)]; // two floats into the low lanes
const store64Lane0 = (offset: number) => [0xfd, 0x5b, 0x03, ...leb(offset), 0x00]; // the low two floats
/** Two floats at the address on the stack (+ offset), widened to f64x2. */
const loadPair = (offset: number) => [...load64Zero(offset), ...F64X2_PROMOTE_LOW];
const MAGIC = 6755399441055744; // 1.5·2⁵²: adding it rounds to an integer held in the low mantissa bits
const LN2_HI = 6.9314718036912381649e-1; // fdlibm's split of ln 2 (LN2_HI·k exact for |k| < 2²⁰)
const LN2_LO = 1.90821492927058770002e-10;
const FACT = [1, 1, 2, 6, 24, 120, 720, 5040, 40320, 362880, 3628800, 39916800, 479001600];
/** acc·t + c for each c, starting from acc = first coefficient (Horner), all on the stack. */
const horner = (t: number, cs: number[]): number[] => [
  ...f64x2(cs[0]),
  ...cs.slice(1).flatMap((c) => [...get(t), ...F64X2_MUL, ...f64x2(c), ...F64X2_ADD]),
];
/** The v128 locals one f64x2 chain of e^v uses (v in V, |v| ≤ 700 or NaN). */
interface ExpLocals {
  readonly V: number;
  readonly K: number;
  readonly R: number;
  readonly R2: number;
  readonly R4: number;
  readonly R8: number;
}
/**
 * e^v on the stack, as a list of steps (so two chains can be interleaved step by step): e^v = 2^k·e^r with k =
 * round(v·log₂e) by the 1.5·2⁵² trick, r = v − k·ln2 in two parts (|r| ≤ ln2/2), e^r by its Taylor series to r¹²
 * (error ~2e-16 relative) evaluated by Estrin's scheme, 2^k built in the exponent bits (|k| ≤ 1010 here).
 */
const expSteps = ({ V, K, R, R2, R4, R8 }: ExpLocals): number[][] => {
  const c = FACT.map((f) => 1 / f);
  const pair = (i: number) => [...f64x2(c[i + 1]), ...get(R), ...F64X2_MUL, ...f64x2(c[i]), ...F64X2_ADD];
  const pairs = (i: number) => [...pair(i), ...pair(i + 2), ...get(R2), ...F64X2_MUL, ...F64X2_ADD];
  return [
    [...get(V), ...f64x2(Math.LOG2E), ...F64X2_MUL, ...f64x2(MAGIC), ...F64X2_ADD, ...set(K)], // k + MAGIC
    [
      ...get(V),
      ...get(K),
      ...f64x2(MAGIC),
      ...F64X2_SUB,
      ...tee(R),
      ...f64x2(LN2_HI),
      ...F64X2_MUL,
      ...F64X2_SUB,
      ...get(R),
      ...f64x2(LN2_LO),
      ...F64X2_MUL,
      ...F64X2_SUB,
      ...set(R),
    ],
    [
      ...get(R),
      ...get(R),
      ...F64X2_MUL,
      ...tee(R2),
      ...get(R2),
      ...F64X2_MUL,
      ...tee(R4),
      ...get(R4),
      ...F64X2_MUL,
      ...set(R8),
    ],
    // ((p01 + p23·r²) + (p45 + p67·r²)·r⁴) + ((p89 + p1011·r²) + c12·r⁴)·r⁸, p_ij = c_i + c_j·r
    [
      ...pairs(0),
      ...pairs(4),
      ...get(R4),
      ...F64X2_MUL,
      ...F64X2_ADD,
      ...pairs(8),
      ...f64x2(c[12]),
      ...get(R4),
      ...F64X2_MUL,
      ...F64X2_ADD,
      ...get(R8),
      ...F64X2_MUL,
      ...F64X2_ADD,
      ...get(K),
      ...i64x2(1023n),
      ...I64X2_ADD,
      ...i32(52),
      ...I64X2_SHL,
      ...F64X2_MUL, // · 2^k
    ],
  ];
};
/** Steps of one GELU chain on the two floats at p + offset (locals from `at`: X, A, T, Q, then ExpLocals). */
const geluSteps = (at: number, offset: number): number[][] => {
  const [X, A, T, Q] = [at, at + 1, at + 2, at + 3];
  const e: ExpLocals = { V: at + 4, K: at + 5, R: at + 6, R2: at + 7, R4: at + 8, R8: at + 9 };
  const [first, ...rest] = expSteps(e);
  // prettier-ignore
  return [
    [...get(GP), ...loadPair(offset), ...set(X)],
    [...get(X), ...F64X2_ABS, ...f64x2(Math.SQRT1_2), ...F64X2_MUL, ...set(A)], // ax = |x/√2|
    [...f64x2(1), ...f64x2(1), ...f64x2(0.3275911), ...get(A), ...F64X2_MUL, ...F64X2_ADD, ...F64X2_DIV, ...set(T)],
    [...horner(T, [1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592]), ...get(T), ...F64X2_MUL,
      ...set(Q)], // q = P(t)·t
    [...get(A), ...get(A), ...F64X2_MUL, ...f64x2(700), ...F64X2_PMIN, ...F64X2_NEG, ...set(e.V)], // v = −min(u, 700)
    first,
    ...rest.slice(0, -1),
    [...rest[rest.length - 1], ...get(Q), ...F64X2_MUL, ...set(Q)], // q = P(t)·t·e^(−u)
    // erf = ±(1 − q) with x's sign (1 − q ≥ 0); g = ½x·(1 + erf)
    [
      ...f64x2(0.5), ...get(X), ...F64X2_MUL,
      ...f64x2(1),
      ...f64x2(1), ...get(Q), ...F64X2_SUB, ...get(X), ...i64x2(-(2n ** 63n)), ...V128_AND, ...V128_OR,
      ...F64X2_ADD, ...F64X2_MUL, ...set(Q),
    ],
    [...get(GP), ...get(Q), ...F32X4_DEMOTE_ZERO, ...store64Lane0(offset)],
  ];
};
/** Two step lists interleaved step by step (independent chains the CPU can overlap). */
const interleave = (a: number[][], b: number[][]): number[] => a.flatMap((s, i) => [...s, ...b[i]]);
// prettier-ignore
const GELU_BODY = [
  0x02, 0x02, 0x7f, 0x14, 0x7b, // locals: 2 × i32, 20 × v128 (two chains of 10)
  ...get(GP), ...get(GN), ...i32(-4), 0x71, ...i32(2), 0x74, ADD, ...set(GE4), // end of the whole fours
  ...get(GP), ...get(GN), ...i32(2), 0x74, ADD, ...set(GE),
  ...get(GP), ...get(GE4), LT_U, 0x04, 0x40, // if there is a four
  0x03, 0x40, // loop: four floats a turn, two chains
  ...interleave(geluSteps(4, 0), geluSteps(14, 8)),
  ...get(GP), ...i32(16), ADD, ...tee(GP), ...get(GE4), LT_U, 0x0d, 0x00,
  0x0b,
  0x0b,
  ...get(GP), ...get(GE), LT_U, 0x04, 0x40, // the last two floats (n ≡ 2 mod 4)
  ...geluSteps(4, 0).flat(),
  0x0b,
  0x0b,
];

// (func $score (param $x $y $ml $c $l i32) (param $beta f64) (result f64)): a TaskVAE's score once its decoder has
// run, in float64 as fast-router.ts's JS computes it: mean_d (x̂_d − x_d)² over x [c] at `x` and x̂ at `y`, plus
// β·KL, KL = −½ Σ_k (1 + logvar_k − μ_k² − e^logvar_k) from μ‖logvar [2l] at `ml` (c, l multiples of 4). Why in the
// kernel: in JS this tail read the kernel memory element by element and called an e^x per latent (128 + 64 JS
// steps per task after the wasm layers). Sums run in two f64x2 lanes (another order than JS's one running sum:
// ~1e-16 relative). e^v as GELU's with v capped to ±708 (2^k stays a normal double), and +∞ where v > ln(max
// double), as Math.exp overflows, so a logvar of +∞ still makes the score NaN (∞ − ∞), never −∞. What the caps
// change: below −708, e^v (< 4e-308) vanishes in 1 + v − μ² − e^v either way; in (708, 709.78] the score is
// ≥ β·5e306 either way, which rounds to the same float32 ∞ the router reports.
const [QX, QY, QML, QC, QL, QBETA] = [0, 1, 2, 3, 4, 5];
const [QXE, QMU, QLV, QME] = [6, 7, 8, 9]; // i32 locals
const [QA0, QA1, QD, QKL, QLVV, QMUV] = [10, 11, 12, 13, 14, 15]; // v128 locals, then ExpLocals at 16…21
const QEXP: ExpLocals = { V: 16, K: 17, R: 18, R2: 19, R4: 20, R8: 21 };
const LN_MAX = 709.782712893384; // ln(Number.MAX_VALUE): Math.exp overflows above
const F64X2_EXTRACT = (k: number) => [0xfd, 0x21, k];
const f64 = (v: number): number[] => {
  const b = new DataView(new ArrayBuffer(8));
  b.setFloat64(0, v, true);
  return [0x44, ...new Uint8Array(b.buffer)];
};
const [F64_ADD, F64_MUL, F64_DIV, F64_CONVERT_I32_U] = [0xa0, 0xa2, 0xa3, 0xb8];
// prettier-ignore
const SCORE_BODY = [
  0x02, 0x04, 0x7f, 0x0c, 0x7b, // locals: 4 × i32, 12 × v128
  ...get(QX), ...get(QC), ...i32(2), 0x74, ADD, ...set(QXE),
  0x03, 0x40, // (x̂ − x)², four floats a turn, in two f64x2 accumulators
  ...[0, 8].flatMap((o, j) => [
    ...get(QY), ...loadPair(o), ...get(QX), ...loadPair(o), ...F64X2_SUB, ...tee(QD), ...get(QD), ...F64X2_MUL,
    ...get(j ? QA1 : QA0), ...F64X2_ADD, ...set(j ? QA1 : QA0),
  ]),
  ...get(QY), ...i32(16), ADD, ...set(QY),
  ...get(QX), ...i32(16), ADD, ...tee(QX), ...get(QXE), LT_U, 0x0d, 0x00,
  0x0b,
  ...get(QML), ...set(QMU),
  ...get(QML), ...get(QL), ...i32(2), 0x74, ADD, ...tee(QME), ...set(QLV),
  0x03, 0x40, // KL terms 1 + logvar − μ² − e^logvar, two latents a turn
  ...get(QMU), ...loadPair(0), ...set(QMUV),
  ...get(QLV), ...loadPair(0), ...tee(QLVV), ...f64x2(708), ...F64X2_PMIN, ...f64x2(-708), ...F64X2_PMAX,
  ...set(QEXP.V),
  ...f64x2(Infinity), // bitselect's first operand: where the mask is set
  ...expSteps(QEXP).flat(),
  ...get(QLVV), ...f64x2(LN_MAX), ...F64X2_GT, ...V128_BITSELECT, ...set(QD), // e = v > LN_MAX ? ∞ : e^v
  ...f64x2(1), ...get(QLVV), ...F64X2_ADD, ...get(QMUV), ...get(QMUV), ...F64X2_MUL, ...F64X2_SUB, ...get(QD),
  ...F64X2_SUB, ...get(QKL), ...F64X2_ADD, ...set(QKL),
  ...get(QLV), ...i32(8), ADD, ...set(QLV),
  ...get(QMU), ...i32(8), ADD, ...tee(QMU), ...get(QME), LT_U, 0x0d, 0x00,
  0x0b,
  // recon / c + β·(−½·KL sum)
  ...get(QA0), ...get(QA1), ...F64X2_ADD, ...tee(QD), ...F64X2_EXTRACT(0), ...get(QD), ...F64X2_EXTRACT(1), F64_ADD,
  ...get(QC), F64_CONVERT_I32_U, F64_DIV,
  ...get(QBETA),
  ...f64(-0.5), ...get(QKL), ...F64X2_EXTRACT(0), ...get(QKL), ...F64X2_EXTRACT(1), F64_ADD, F64_MUL,
  F64_MUL, F64_ADD,
  0x0b,
];

// (func $softmax (param $s $e $hw i32) (param $c $t f64)): the attention pooling's weights in place, in float64 as
// fast-router.ts's softmaxOfNorms computes them: s holds each position's squared norm (float32) on entry and
// softmax_p(√s_p / c / t) over the hw positions (hw a positive multiple of 2) on return, rounded to float32; `e` is
// scratch for hw doubles (16-byte aligned). Why in the kernel: in JS this was three passes of 256 float64 steps plus
// two copies between the kernel's floats and a JS array per route. e^(v − max) as GELU's (v − max capped at −708:
// below, e^x < 4e-308 rounds to the same float32 0 weight); the sum runs in two lanes (~1e-16 relative from
// JS's one running sum). A NaN norm never becomes the max, as in JS, and makes every weight NaN.
const [MS, ME, MHW, MC, MT] = [0, 1, 2, 3, 4];
const [MP, MQ, MEND] = [5, 6, 7]; // i32 locals
const [MMX, MV, MSUM] = [8, 9, 10]; // v128 locals, then ExpLocals at 11…16
const MEXP: ExpLocals = { V: 11, K: 12, R: 13, R2: 14, R4: 15, R8: 16 };
const F64_MAX = 0xa5;
const F64X2_SPLAT = [0xfd, 0x14];
const F64X2_SQRT = [0xfd, 0xef, 0x01];
const V128_STORE = (offset: number) => [0xfd, 0x0b, 0x04, ...leb(offset)];
/** Loop over the pairs: MP over s (8 bytes a turn) and MQ over e (16 bytes a turn) from their starts. */
const pairLoop = (body: number[]): number[] => [
  ...get(MS),
  ...set(MP),
  ...get(ME),
  ...set(MQ),
  0x03,
  0x40,
  ...body,
  ...get(MP),
  ...i32(8),
  ADD,
  ...set(MP),
  ...get(MQ),
  ...i32(16),
  ADD,
  ...tee(MQ),
  ...get(MEND),
  LT_U,
  0x0d,
  0x00,
  0x0b,
];
/** lane 0 (op) lane 1 of a v128 local, as an f64 on the stack. */
const lanes = (l: number, op: number) => [...get(l), ...F64X2_EXTRACT(0), ...get(l), ...F64X2_EXTRACT(1), op];
// prettier-ignore
const SOFTMAX_BODY = [
  0x02, 0x03, 0x7f, 0x09, 0x7b, // locals: 3 × i32, 9 × v128
  ...get(ME), ...get(MHW), ...i32(3), 0x74, ADD, ...set(MEND),
  ...f64x2(-Infinity), ...set(MMX),
  // v = √s / c / t into e, and the running max (pmax keeps the max where v is NaN)
  ...pairLoop([
    ...get(MQ), ...get(MP), ...loadPair(0), ...F64X2_SQRT, ...get(MC), ...F64X2_SPLAT, ...F64X2_DIV, ...get(MT),
    ...F64X2_SPLAT, ...F64X2_DIV, ...tee(MV), ...V128_STORE(0),
    ...get(MMX), ...get(MV), ...F64X2_PMAX, ...set(MMX),
  ]),
  ...lanes(MMX, F64_MAX), ...F64X2_SPLAT, ...set(MMX),
  // e^(v − max) into e, and their sum
  ...pairLoop([
    ...get(MQ),
    ...get(MMX), ...get(MQ), ...load(0), ...F64X2_SUB, ...F64X2_NEG, ...f64x2(-708), ...F64X2_PMAX, ...set(MEXP.V),
    ...expSteps(MEXP).flat(), ...tee(MV), ...V128_STORE(0),
    ...get(MSUM), ...get(MV), ...F64X2_ADD, ...set(MSUM),
  ]),
  ...lanes(MSUM, F64_ADD), ...F64X2_SPLAT, ...set(MSUM),
  // a = e / sum, rounded to float32 into s
  ...pairLoop([...get(MP), ...get(MQ), ...load(0), ...get(MSUM), ...F64X2_DIV, ...F32X4_DEMOTE_ZERO, ...store64Lane0(0)]),
  0x0b,
];

// prettier-ignore
const MODULE_BYTES = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  // types: 0 = (i32 ×6) → (), 1 = (i32 ×4) → (), 2 = (i32 ×2) → (), 3 = (i32 ×5, f64) → f64,
  // 4 = (i32 ×3, f64 ×2) → ()
  ...section(1, [0x05, 0x60, 0x06, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x00, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x00,
    0x60, 0x02, 0x7f, 0x7f, 0x00, 0x60, 0x06, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7c, 0x01, 0x7c,
    0x60, 0x05, 0x7f, 0x7f, 0x7f, 0x7c, 0x7c, 0x00]),
  ...section(2, [0x01, 0x01, 0x65, 0x01, 0x6d, 0x02, 0x00, 0x01]), // import "e" "m" memory, min 1 page
  // dense: type 0, sumsq: type 1, gelu: type 2, densec: type 0, score: type 3, softmax: type 4
  ...section(3, [0x06, 0x00, 0x01, 0x02, 0x00, 0x03, 0x04]),
  // exports "dense" (function 0), "sumsq" (1), "gelu" (2), "densec" (3), "score" (4), "softmax" (5)
  ...section(7, [0x06, 0x05, ...ascii('dense'), 0x00, 0x00, 0x05, ...ascii('sumsq'), 0x00, 0x01,
    0x04, ...ascii('gelu'), 0x00, 0x02, 0x06, ...ascii('densec'), 0x00, 0x03, 0x05, ...ascii('score'), 0x00, 0x04,
    0x07, ...ascii('softmax'), 0x00, 0x05]),
  ...section(10, [0x06, ...leb(BODY.length), ...BODY, ...leb(SUMSQ_BODY.length), ...SUMSQ_BODY,
    ...leb(GELU_BODY.length), ...GELU_BODY, ...leb(DENSEC_BODY.length), ...DENSEC_BODY,
    ...leb(SCORE_BODY.length), ...SCORE_BODY, ...leb(SOFTMAX_BODY.length), ...SOFTMAX_BODY]),
]);

const wasm = wasmApi;

let compiled: object | null | undefined;

function module(): object | null {
  if (compiled === undefined) {
    try {
      compiled = wasm ? new wasm.Module(MODULE_BYTES) : null;
    } catch {
      compiled = null; // no WebAssembly SIMD here
    }
  }
  return compiled;
}

/** Whether this runtime runs the SIMD kernel (WebAssembly with fixed-width SIMD). */
export function simdDenseAvailable(): boolean {
  return module() !== null;
}

export interface SimdDense {
  /** The kernel's memory as floats (re-read after `ensure`, which may replace it). */
  readonly f32: Float32Array;
  /** Grows the memory to hold at least `floats` floats. */
  ensure(floats: number): void;
  /**
   * y[yOff + o] = b[bOff + o] + Σ_i W[wOff + o·inDim + i] · x[xOff + i] for o < outDim; offsets in floats,
   * multiples of 4; inDim and outDim positive multiples of 4.
   */
  dense(wOff: number, bOff: number, xOff: number, yOff: number, inDim: number, outDim: number): void;
  /**
   * s[sOff + p] += Σ_ch z[zOff + ch·hw + p]² for p < hw (float32 sums); offsets in floats, multiples of 4; hw a
   * positive multiple of 4.
   */
  sumsq(zOff: number, sOff: number, c: number, hw: number): void;
  /**
   * The same two functions without the checks, offsets in BYTES (floats × 4), for hot loops whose layout was
   * checked once: a width that is not a positive multiple of 4 or a misaligned offset gives wrong sums, not an
   * error (an access outside the memory still traps).
   */
  readonly raw: {
    dense(wAt: number, bAt: number, xAt: number, yAt: number, inDim: number, outDim: number): void;
    sumsq(zAt: number, sAt: number, c: number, hw: number): void;
    /** GELU in place on n floats at byte offset `at` (n a positive multiple of 2; float64 inside). */
    gelu(at: number, n: number): void;
    /**
     * `dense` with W in column blocks of 8 rows (`columnBlocks8`): the same float32 results, bit for bit; inDim a
     * positive multiple of 4, outDim of 8.
     */
    densec(wAt: number, bAt: number, xAt: number, yAt: number, inDim: number, outDim: number): void;
    /**
     * A TaskVAE's score from its kernel slots (byte offsets): mean (x̂ − x)² over x [c] at `xAt` and x̂ at `yAt`,
     * plus β·KL from μ‖logvar [2l] at `mlAt`, in float64 (c and l positive multiples of 4).
     */
    score(xAt: number, yAt: number, mlAt: number, c: number, l: number, beta: number): number;
    /**
     * The pooling's attention weights in place: float32 squared norms [hw] at `sAt` in, softmax(√s / c / t) out
     * (float64 inside, rounded to float32); `eAt` scratch for hw doubles, 16-byte aligned; hw a positive multiple
     * of 2.
     */
    softmax(sAt: number, eAt: number, hw: number, c: number, t: number): void;
  };
}

/**
 * W [out,in] row-major (at `from`, floats) written as `densec` reads it (at `to`): for each block of 8 rows, for
 * each input i, the 8 rows' weights of input i. `out` a multiple of 8.
 */
export function columnBlocks8(
  src: Float32Array,
  from: number,
  dst: Float32Array,
  to: number,
  inDim: number,
  outDim: number,
): void {
  for (let j = 0; j < outDim; j += 8)
    for (let i = 0; i < inDim; i++)
      for (let r = 0; r < 8; r++) dst[to + j * inDim + i * 8 + r] = src[from + (j + r) * inDim + i];
}

/** A kernel instance with room for `floats` floats, or null where WebAssembly SIMD is missing. */
export function createSimdDense(floats: number): SimdDense | null {
  const m = module();
  if (!m) return null;
  const pages = (n: number) => Math.max(1, Math.ceil((n * 4) / 65536));
  const memory = new wasm!.Memory({ initial: pages(floats) });
  const instance = new wasm!.Instance(m, { e: { m: memory } });
  const fn = instance.exports['dense'] as (...a: number[]) => void;
  const sq = instance.exports['sumsq'] as (...a: number[]) => void;
  const ge = instance.exports['gelu'] as (...a: number[]) => void;
  const dc = instance.exports['densec'] as (...a: number[]) => void;
  const sc = instance.exports['score'] as (...a: number[]) => number;
  const sm = instance.exports['softmax'] as (...a: number[]) => void;
  let f32 = new Float32Array(memory.buffer);
  return {
    raw: { dense: fn, sumsq: sq, gelu: ge, densec: dc, score: sc, softmax: sm },
    get f32() {
      return f32;
    },
    ensure(n: number) {
      const need = pages(n) - memory.buffer.byteLength / 65536;
      if (need > 0) {
        memory.grow(need);
        f32 = new Float32Array(memory.buffer);
      }
    },
    dense(wOff, bOff, xOff, yOff, inDim, outDim) {
      if (!(inDim > 0 && inDim % 4 === 0 && outDim > 0 && outDim % 4 === 0))
        throw new RangeError(
          `dense kernel: inDim ${inDim} and outDim ${outDim} must be positive multiples of 4`,
        );
      if ((wOff | bOff | xOff | yOff) % 4 !== 0)
        throw new RangeError('dense kernel: offsets must be multiples of 4');
      fn(wOff * 4, bOff * 4, xOff * 4, yOff * 4, inDim, outDim);
    },
    sumsq(zOff, sOff, c, hw) {
      if (!(hw > 0 && hw % 4 === 0 && c >= 1))
        throw new RangeError(`sumsq kernel: hw ${hw} must be a positive multiple of 4, c ${c} ≥ 1`);
      if ((zOff | sOff) % 4 !== 0) throw new RangeError('sumsq kernel: offsets must be multiples of 4');
      sq(zOff * 4, sOff * 4, c, hw);
    },
  };
}
