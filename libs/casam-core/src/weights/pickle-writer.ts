/**
 * A tiny pickle opcode emitter. It writes what `torch.save` writes (protocol 2) for `writePth`, and lets specs
 * hand-build pickles (strided views, hostile globals) without Python.
 */
export class PickleWriter {
  private readonly parts: number[] = [];
  private readonly enc = new TextEncoder();

  private op(code: number, ...bytes: number[]): this {
    this.parts.push(code, ...bytes);
    return this;
  }
  private u32(v: number): number[] {
    return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  }

  /** Raw bytes, for opcodes the helpers below do not cover. */
  raw(...bytes: number[]): this {
    this.parts.push(...bytes);
    return this;
  }
  proto(v = 2): this {
    return this.op(0x80, v);
  }
  stop(): this {
    return this.op(0x2e);
  }
  mark(): this {
    return this.op(0x28);
  }
  tuple(): this {
    return this.op(0x74);
  }
  emptyTuple(): this {
    return this.op(0x29);
  }
  emptyDict(): this {
    return this.op(0x7d);
  }
  emptyList(): this {
    return this.op(0x5d);
  }
  none(): this {
    return this.op(0x4e);
  }
  bool(v: boolean): this {
    return this.op(v ? 0x88 : 0x89);
  }
  /** BININT1 / BININT2 / BININT / LONG1, whichever is shortest, like CPython's pickler. */
  int(v: number | bigint): this {
    if (typeof v === 'number' && Number.isInteger(v)) {
      if (v >= 0 && v < 256) return this.op(0x4b, v);
      if (v >= 0 && v < 65536) return this.op(0x4d, v & 0xff, v >>> 8);
      if (v >= -(2 ** 31) && v < 2 ** 31) return this.op(0x4a, ...this.u32(v));
    }
    let b = BigInt(v);
    const bytes: number[] = [];
    for (;;) {
      bytes.push(Number(b & 0xffn));
      const rest = b >> 8n;
      // Stop once the remaining value is pure sign extension of the last byte's top bit.
      if (
        (rest === 0n && !(bytes[bytes.length - 1] & 0x80)) ||
        (rest === -1n && bytes[bytes.length - 1] & 0x80)
      )
        break;
      b = rest;
    }
    return this.op(0x8a, bytes.length, ...bytes);
  }
  float(v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    return this.op(0x47, ...b);
  }
  str(s: string): this {
    const b = this.enc.encode(s);
    return this.op(0x58, ...this.u32(b.byteLength), ...b);
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...this.enc.encode(`${module}\n${name}\n`));
  }
  reduce(): this {
    return this.op(0x52);
  }
  build(): this {
    return this.op(0x62);
  }
  binpersid(): this {
    return this.op(0x51);
  }
  setitem(): this {
    return this.op(0x73);
  }
  setitems(): this {
    return this.op(0x75);
  }
  append(): this {
    return this.op(0x61);
  }
  appends(): this {
    return this.op(0x65);
  }
  binput(i: number): this {
    return i < 256 ? this.op(0x71, i) : this.op(0x72, ...this.u32(i));
  }
  binget(i: number): this {
    return i < 256 ? this.op(0x68, i) : this.op(0x6a, ...this.u32(i));
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}
