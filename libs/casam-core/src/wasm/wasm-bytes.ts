/**
 * Encoding helpers for the WebAssembly modules this library writes byte by byte (casam/simd-dense.ts, the router's
 * SIMD kernel; image/png-unfilter-simd.ts, PNG row unfiltering): LEB128 integers, sections, names, and the part of
 * the WebAssembly JS API they use. Hand-written for the same reason as those modules: a few small functions, no
 * toolchain or build step, nothing generated or committed besides the TypeScript.
 */

/** Signed LEB128 (i32.const immediates). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** Unsigned LEB128 (lengths, indices, SIMD opcodes). */
export function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

export const ascii = (t: string): number[] => [...t].map((ch) => ch.charCodeAt(0));

/** local.get, local.set, local.tee of local `l`, and i32.const `n`. */
export const get = (l: number): number[] => [0x20, l];
export const set = (l: number): number[] => [0x21, l];
export const tee = (l: number): number[] => [0x22, l];
export const i32 = (n: number): number[] => [0x41, ...sleb(n)];

/** A module section: id, byte length, content. */
export const section = (id: number, content: number[]): number[] => [id, ...leb(content.length), ...content];

/** The part of the WebAssembly JS API used here (the project's TypeScript libs do not declare its values). */
export interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Memory: new (d: { initial: number }) => { readonly buffer: ArrayBuffer; grow(pages: number): number };
  Instance: new (
    m: object,
    imports: Record<string, Record<string, unknown>>,
  ) => {
    readonly exports: Record<string, unknown>;
  };
}

/** WebAssembly where the runtime has it. */
export const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
