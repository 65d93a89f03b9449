// Which compressed syntaxes really decode in Node: every syntax the table marks 'codec' is encoded by
// dcmjs-codecs from a known image and must read back through readDicomInstance (losslessly where lossless).
import { describe, expect, it } from 'vitest';
import { datasetToPart10 } from '../testing';
import { encodePart10 } from './codecs';
import { readDicomInstance } from './read-dicom-instance';
import { describeTransferSyntax } from './transfer-syntax';

const rows = 16;
const cols = 12;

async function image(bits: 8 | 16): Promise<{ bytes: Uint8Array; values: number[] }> {
  const values = Array.from({ length: rows * cols }, (_, i) =>
    bits === 16 ? ((i * 37) % 900) - 300 : (i * 7) % 256,
  );
  const pixels = bits === 16 ? Int16Array.from(values) : Uint8Array.from(values);
  const bytes = await datasetToPart10({
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.7',
    SOPInstanceUID: `2.25.${bits}`,
    StudyInstanceUID: '2.25.1',
    SeriesInstanceUID: '2.25.2',
    Modality: 'OT',
    Rows: rows,
    Columns: cols,
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    BitsAllocated: bits,
    BitsStored: bits,
    HighBit: bits - 1,
    PixelRepresentation: bits === 16 ? 1 : 0,
    PixelData: [pixels.buffer],
    _vrMap: { PixelData: bits === 16 ? 'OW' : 'OB' },
  });
  return { bytes, values };
}

const LOSSLESS_16 = [
  '1.2.840.10008.1.2.2', // Explicit VR Big Endian (byte-swapped by the codecs)
  '1.2.840.10008.1.2.5', // RLE
  '1.2.840.10008.1.2.4.70', // JPEG lossless SV1
  '1.2.840.10008.1.2.4.80', // JPEG-LS lossless
  '1.2.840.10008.1.2.4.90', // JPEG 2000 lossless
  '1.2.840.10008.1.2.4.201', // HTJ2K lossless
  '1.2.840.10008.1.2.4.202', // HTJ2K RPCL lossless
  '1.2.840.10008.1.2.4.110', // JPEG XL lossless
];

const LOSSY_16 = [
  '1.2.840.10008.1.2.4.81', // JPEG-LS near-lossless
  '1.2.840.10008.1.2.4.91', // JPEG 2000
  '1.2.840.10008.1.2.4.203', // HTJ2K
  '1.2.840.10008.1.2.4.112', // JPEG XL
];

describe('compressed transfer syntaxes (dcmjs-codecs in Node)', () => {
  it.each(LOSSLESS_16)('%s decodes a signed 16-bit image losslessly', async (uid) => {
    expect(describeTransferSyntax(uid).kind).toBe('codec');
    const { bytes, values } = await image(16);
    const instance = await readDicomInstance(await encodePart10(bytes, uid), 'x.dcm');
    expect(instance.transferSyntaxUid).toBe(uid);
    expect(Array.from(instance.readFrame(0))).toEqual(values);
  });

  it.each(LOSSY_16)('%s decodes a signed 16-bit image approximately', async (uid) => {
    expect(describeTransferSyntax(uid).kind).toBe('codec');
    const { bytes, values } = await image(16);
    const decoded = (await readDicomInstance(await encodePart10(bytes, uid), 'x.dcm')).readFrame(0);
    const meanError = values.reduce((s, v, i) => s + Math.abs(v - decoded[i]), 0) / values.length;
    // Values span 900 in a high-frequency sawtooth, the worst case for lossy codecs at their default rates.
    expect(meanError).toBeLessThan(120);
  });

  it('decodes JPEG baseline (8-bit, lossy) to within a few grey levels', async () => {
    const { bytes, values } = await image(8);
    const instance = await readDicomInstance(await encodePart10(bytes, '1.2.840.10008.1.2.4.50'), 'x.dcm');
    const decoded = instance.readFrame(0);
    const meanError = values.reduce((s, v, i) => s + Math.abs(v - decoded[i]), 0) / values.length;
    expect(meanError).toBeLessThan(12);
    expect(meanError).toBeGreaterThan(0); // it really went through the lossy codec
  });

  it('refuses what it cannot decode, naming the file and the syntax', async () => {
    const { bytes } = await image(16);
    // Same length as Explicit VR LE's UID ("1.2.840.10008.1.2.1\0"), so the header stays valid.
    const patched = Buffer.from(bytes)
      .toString('latin1')
      .replace('1.2.840.10008.1.2.1\0', '1.2.840.10008.1.2.99');
    const error = await readDicomInstance(Buffer.from(patched, 'latin1'), 'scan.dcm').catch((e) => e);
    expect(error.code).toBe('unsupported-transfer-syntax');
    expect(error.message).toBe(
      'scan.dcm: transfer syntax 1.2.840.10008.1.2.99 (unknown transfer syntax) cannot be decoded here; ' +
        'ask the PACS for Explicit VR Little Endian (uncompressed) or a lossless JPEG/RLE syntax',
    );
  });
});
