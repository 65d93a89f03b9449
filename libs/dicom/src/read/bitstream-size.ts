// The frame size a compressed bitstream declares for itself, read from its first bytes: JPEG (all SOF
// processes) and JPEG-LS (SOF55) frame headers, JPEG 2000 / HTJ2K codestream SIZ. A codec allocates by these
// numbers, not by the DICOM header's Rows and Columns, so a frame claiming 30000×30000 inside an 8×8 image is a
// decompression bomb the header check alone would let through. JPEG XL (rare in DICOM) is not parsed here: its
// codec still cannot produce more than the header checks allow to be kept (the decoded size is checked after).
// Hand-written because the only question is three numbers in a frame header: dcmjs-codecs answers it only by
// decoding (the very allocation to avoid), and a JPEG/J2K parsing library would be a dependency for 40 lines.

export interface BitstreamSize {
  width: number;
  height: number;
}

/** The declared size, or undefined when the bytes are no JPEG/JPEG-LS/J2K stream this reads (RLE, JPEG XL). */
export function bitstreamFrameSize(bytes: Uint8Array): BitstreamSize | undefined {
  if (bytes.length < 4 || bytes[0] !== 0xff) return undefined;
  if (bytes[1] === 0xd8) return jpegFrameSize(bytes);
  if (bytes[1] === 0x4f && bytes[2] === 0xff && bytes[3] === 0x51) return j2kSize(bytes);
  return undefined;
}

/** Start-of-frame markers: SOF0–3, 5–7, 9–11, 13–15 (JPEG) and SOF55 (JPEG-LS). */
function isStartOfFrame(marker: number): boolean {
  return (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) || marker === 0xf7;
}

function jpegFrameSize(b: Uint8Array): BitstreamSize | undefined {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1];
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (isStartOfFrame(marker)) return { height: u16(b, i + 5), width: u16(b, i + 7) };
    if (marker === 0xda || marker === 0xd9) return undefined; // scan data or the end before any frame header
    // Markers without a length segment (RSTn, TEM); everything else is followed by its length.
    i += (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01 ? 2 : 2 + u16(b, i + 2);
  }
  return undefined;
}

/** SIZ: Lsiz, Rsiz, then Xsiz, Ysiz, XOsiz, YOsiz (32-bit): the image area is (Xsiz − XOsiz) × (Ysiz − YOsiz). */
function j2kSize(b: Uint8Array): BitstreamSize | undefined {
  if (b.length < 24) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const width = v.getUint32(8) - v.getUint32(16);
  const height = v.getUint32(12) - v.getUint32(20);
  return width > 0 && height > 0 ? { width, height } : undefined;
}

function u16(b: Uint8Array, at: number): number {
  return (b[at] << 8) | b[at + 1];
}
