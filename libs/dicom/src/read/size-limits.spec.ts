import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetToPart10, withRowsColumns, writeSyntheticSeries } from '../testing';
import { DicomProblem } from './dicom-problem';
import { parsePart10 } from './parse-part10';
import { readDicomFolder } from './read-dicom-folder';
import { readDicomInstance } from './read-dicom-instance';
import { bitstreamFrameSize } from './bitstream-size';
import { encodePart10 } from './codecs';
import { checkDecodedSize } from './size-limits';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'casam-dicom-limits-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const identity = { patientId: 'P-LIM', patientName: 'Limit^Lou' };

/** A CT header claiming `rows`×`columns` (and `frames`) over 16 bytes of pixel data. */
function claiming(rows: number, columns: number, frames?: number): Promise<Uint8Array> {
  return datasetToPart10({
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.2',
    SOPInstanceUID: '1.2.826.0.1.3680043.10.1338.9.1',
    StudyInstanceUID: '1.2.826.0.1.3680043.10.1338.9.2',
    SeriesInstanceUID: '1.2.826.0.1.3680043.10.1338.9.3',
    Modality: 'CT',
    Rows: rows,
    Columns: columns,
    ...(frames ? { NumberOfFrames: String(frames) } : {}),
    BitsAllocated: 16,
    BitsStored: 16,
    HighBit: 15,
    PixelRepresentation: 0,
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    PixelData: [new Uint8Array(16).buffer],
    _vrMap: { PixelData: 'OW' },
  });
}

async function problemOf(p: Promise<unknown>): Promise<DicomProblem> {
  const e = await p.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(e).toBeInstanceOf(DicomProblem);
  return e as DicomProblem;
}

describe('size limits against decompression bombs', () => {
  it('refuses a few-hundred-byte file whose header claims a 60000×60000 frame, naming the sizes', async () => {
    const bomb = await claiming(60000, 60000);
    expect(bomb.length).toBeLessThan(1000);
    const p = await problemOf(readDicomInstance(bomb, 'bomb.dcm'));
    expect(p.code).toBe('too-large');
    expect(p.message).toMatch(
      /^bomb\.dcm: a frame of 60000×60000 pixels is larger than the limit of 16777216/,
    );
  });

  it('refuses an instance whose frames together pass the per-instance limit, before reading them', async () => {
    // 4096×4096 per frame is allowed; 17 of them are 2^28 + 2^24 values, claimed over 16 bytes of pixel data.
    const p = await problemOf(readDicomInstance(await claiming(4096, 4096, 17), 'frames.dcm'));
    expect(p.code).toBe('too-large');
    expect(p.message).toMatch(/17 frame\(s\) of 4096×4096×1 make 285212672 values \(544\.0 MiB decoded\)/);
    const small = await problemOf(
      readDicomInstance(await claiming(8, 8, 3), 'x.dcm', { maxFramePixelsTotal: 100 }),
    );
    expect(small.message).toMatch(/3 frame\(s\) of 8×8×1 make 192 values.*limit of 100 values per instance/);
  });

  it('checks a compressed file from its header before the codecs decode anything', async () => {
    const s = await writeSyntheticSeries(join(dir, 'rle'), {
      modality: 'CT',
      slices: 1,
      rows: 8,
      cols: 8,
      transferSyntax: 'rle',
      seed: 5,
      ...identity,
    });
    const rle = new Uint8Array(await readFile(s.files[0]));
    // Readable as it is; with the header claiming 60000×60000 the RLE decoder would be asked for 6.7 GiB.
    expect((await readDicomInstance(rle, 'ok.dcm')).rows).toBe(8);
    const p = await problemOf(parsePart10(withRowsColumns(rle, 60000), 'rle-bomb.dcm'));
    expect(p.code).toBe('too-large');
    expect(p.message).toMatch(/60000×60000/);
    // A caller's tighter limit is applied to compressed files too.
    expect((await problemOf(readDicomInstance(rle, 'ok.dcm', { maxPixels: 63 }))).code).toBe('too-large');
  });

  it.each([
    ['1.2.840.10008.1.2.4.50', 'JPEG baseline'],
    ['1.2.840.10008.1.2.4.70', 'JPEG lossless'],
    ['1.2.840.10008.1.2.4.80', 'JPEG-LS'],
    ['1.2.840.10008.1.2.4.90', 'JPEG 2000'],
    ['1.2.840.10008.1.2.4.201', 'HTJ2K'],
  ])(
    'refuses a %s (%s) frame whose bitstream declares more pixels than the header, before decoding',
    async (uid) => {
      const native = await datasetToPart10({
        SOPClassUID: '1.2.840.10008.5.1.4.1.1.7',
        SOPInstanceUID: '2.25.77',
        StudyInstanceUID: '2.25.78',
        SeriesInstanceUID: '2.25.79',
        Modality: 'OT',
        Rows: 16,
        Columns: 12,
        SamplesPerPixel: 1,
        PhotometricInterpretation: 'MONOCHROME2',
        BitsAllocated: 8,
        BitsStored: 8,
        HighBit: 7,
        PixelRepresentation: 0,
        PixelData: [new Uint8Array(192).map((_, i) => (i * 7) % 256).buffer],
        _vrMap: { PixelData: 'OB' },
      });
      const encoded = await encodePart10(native, uid);
      const { at, size } = frameHeader(encoded);
      expect(size).toEqual({ width: 12, height: 16 });
      // 4000×4000 passes the header limits (16 M pixels); only the bitstream's own claim gives the bomb away.
      const bomb = encoded.slice();
      const view = new DataView(bomb.buffer);
      if (bomb[at + 1] === 0xd8) {
        const sof = findSof(bomb, at);
        view.setUint16(sof + 5, 4000);
        view.setUint16(sof + 7, 4000);
      } else {
        view.setUint32(at + 8, 4000 + view.getUint32(at + 16));
        view.setUint32(at + 12, 4000 + view.getUint32(at + 20));
      }
      const p = await problemOf(parsePart10(bomb, 'jpeg-bomb.dcm'));
      expect([p.code, p.message]).toEqual([
        'too-large',
        'jpeg-bomb.dcm: a compressed frame declares 4000×4000 pixels where the header announces 12×16',
      ]);
      expect((await readDicomInstance(encoded, 'ok.dcm')).rows).toBe(16);
    },
  );

  it('refuses pixel data that decoded to more than the header announced', () => {
    expect(() => checkDecodedSize(129, 128, 'pad.dcm')).not.toThrow(); // one byte of padding
    expect(() => checkDecodedSize(4096, 128, 'grown.dcm')).toThrow(
      expect.objectContaining({
        code: 'too-large',
        message: expect.stringMatching(/4096 bytes .* announces 128/),
      }),
    );
  });

  it('reports an oversized file in a folder as a too-large problem and reads the rest', async () => {
    const folder = join(dir, 'folder');
    await writeSyntheticSeries(join(folder, 'ct'), {
      modality: 'CT',
      slices: 2,
      rows: 8,
      cols: 8,
      seed: 6,
      ...identity,
    });
    await writeFile(join(folder, 'bomb.dcm'), await claiming(60000, 60000));
    const read = await readDicomFolder(folder);
    expect(read.series.map((x) => x.slices.length)).toEqual([2]);
    expect(read.problems).toEqual([
      expect.objectContaining({ file: join(folder, 'bomb.dcm'), code: 'too-large' }),
    ]);
    // Limits are the caller's to set: 8×8 frames over a 32-pixel limit are refused.
    const strict = await readDicomFolder(join(folder, 'ct'), { limits: { maxPixels: 32 } });
    expect(strict.series).toEqual([]);
    expect(strict.problems.map((x) => x.code)).toEqual(['too-large', 'too-large']);
  });
});

/** Where the first frame's bitstream starts (JPEG SOI or J2K SOC after the DICOM header) and what it declares. */
function frameHeader(file: Uint8Array) {
  for (let at = 132; at + 4 < file.length; at++) {
    const soi = file[at] === 0xff && file[at + 1] === 0xd8 && file[at + 2] === 0xff;
    const soc = file[at] === 0xff && file[at + 1] === 0x4f && file[at + 2] === 0xff && file[at + 3] === 0x51;
    if (soi || soc) return { at, size: bitstreamFrameSize(file.subarray(at)) };
  }
  throw new Error('no JPEG or J2K bitstream in the file');
}

/** The JPEG start-of-frame segment of the stream at `at`. */
function findSof(file: Uint8Array, at: number): number {
  for (let i = at + 2; i + 1 < file.length; i++)
    if (file[i] === 0xff && [0xc0, 0xc1, 0xc3, 0xf7].includes(file[i + 1])) return i;
  throw new Error('no start of frame');
}
