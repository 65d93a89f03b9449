// The one place that touches dcmjs-codecs: compressed pixel data → Explicit VR Little Endian Part 10 bytes.
// Its WASM module is loaded once, on first need, so reading uncompressed files never pays for it.
import * as codecsModule from 'dcmjs-codecs';
import { EXPLICIT_VR_LITTLE_ENDIAN } from './transfer-syntax';

// The package is a webpack UMD bundle: Node's CJS named-export detection may or may not see its names.
type Codecs = typeof codecsModule;
const codecs: Codecs = (codecsModule as unknown as { default?: Codecs }).default ?? codecsModule;

let ready: Promise<void> | undefined;

/** Loads the WASM codecs (once per process). */
export function initCodecs(): Promise<void> {
  ready ??= codecs.NativeCodecs.initializeAsync();
  return ready;
}

/** Decodes a compressed Part 10 file to an uncompressed one (Explicit VR Little Endian). */
export async function decodeToExplicitLittleEndian(part10: Uint8Array): Promise<Uint8Array> {
  await initCodecs();
  const transcoder = new codecs.Transcoder(toArrayBuffer(part10));
  transcoder.transcode(EXPLICIT_VR_LITTLE_ENDIAN);
  return new Uint8Array(transcoder.getDicomPart10());
}

/** Encodes an uncompressed Part 10 file to `transferSyntaxUid` (the test kit writes RLE files with it). */
export async function encodePart10(part10: Uint8Array, transferSyntaxUid: string): Promise<Uint8Array> {
  await initCodecs();
  const transcoder = new codecs.Transcoder(toArrayBuffer(part10));
  transcoder.transcode(transferSyntaxUid);
  return new Uint8Array(transcoder.getDicomPart10());
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
