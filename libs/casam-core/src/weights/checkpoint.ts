import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { StateDict } from '../tensor/host-tensor';
import { LegacyTorchFormatError, isLegacyTorch, readPth } from './pth-reader';
import { readSafetensors } from './safetensors';
import { isZip } from './zip-reader';

export type CheckpointFormat = 'pth' | 'safetensors';

/** Any failure to read a checkpoint; the message starts with the file name, `cause` holds the reader's error. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
  constructor(
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${message}`, options);
  }
}

/** Sniffs the format from magic bytes; null when neither a torch zip nor plausibly safetensors. */
export function detectCheckpointFormat(buf: Uint8Array): CheckpointFormat | null {
  if (isZip(buf)) return 'pth';
  if (buf.byteLength >= 9) {
    // safetensors: u64 LE header length, then a JSON object.
    const n = new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true);
    if (n >= 2n && n <= BigInt(buf.byteLength - 8) && buf[8] === 0x7b) return 'safetensors';
  }
  return null;
}

/** Parses a checkpoint held in memory; `nameForErrors` (usually the file name) prefixes every error message. */
export function parseCheckpoint(buf: Uint8Array, nameForErrors = '<buffer>'): StateDict {
  const format = detectCheckpointFormat(buf);
  if (format === null) {
    if (isLegacyTorch(buf)) {
      const e = new LegacyTorchFormatError();
      throw new CheckpointError(nameForErrors, e.message, { cause: e });
    }
    const head = [...buf.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new CheckpointError(
      nameForErrors,
      `unknown checkpoint format (expected a PyTorch .pth zip or a .safetensors file; first bytes: ${head || 'none'})`,
    );
  }
  try {
    return format === 'pth' ? readPth(buf) : readSafetensors(buf).tensors;
  } catch (e) {
    const what = format === 'pth' ? 'PyTorch checkpoint' : 'safetensors file';
    throw new CheckpointError(nameForErrors, `cannot read ${what}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Reads a whole file into one buffer. Unlike fs.readFileSync this works past 2 GiB (vit_h is 2.5 GB): the
 * buffer is allocated once and filled in chunks.
 */
export function readFileFully(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.allocUnsafeSlow(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, Math.min(size - off, 1 << 30), off);
      if (n === 0) throw new Error(`unexpected end of file at byte ${off} of ${size}`);
      off += n;
    }
    return new Uint8Array(buf.buffer, buf.byteOffset, size);
  } finally {
    closeSync(fd);
  }
}

/** Reads a `.pth` or `.safetensors` checkpoint from disk, detecting the format by its magic bytes. */
export function readCheckpoint(path: string): StateDict {
  let buf: Uint8Array;
  try {
    buf = readFileFully(path);
  } catch (e) {
    throw new CheckpointError(path, `cannot read file: ${(e as Error).message}`, { cause: e });
  }
  return parseCheckpoint(buf, path);
}
