import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, encodeRgbPng } from '@casam/casam-core';
import { readDicomSegFrames } from '@casam/dicom';
import {
  type SyntheticSeries,
  datasetToPart10,
  writeSyntheticSeries,
  seededRandom,
  withRowsColumns,
  writeTestInstance,
} from '@casam/dicom/testing';
import { SegmentationServer, type SegmentResponseJson } from './segmentation-server';
import { startTestSegmentationServer, testBundle } from '../testing/segmentation-server.testing';

describe('SegmentationServer with DICOM (real HTTP)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-serve-dicom-'));
  let server: SegmentationServer;
  let url: string;
  let ct: SyntheticSeries;
  let mr: SyntheticSeries;
  const logs: string[] = [];

  beforeAll(async () => {
    const common = { rows: 64, cols: 80, patientId: 'PID-SERVE', patientName: 'Serve^Pat' };
    ct = await writeSyntheticSeries(join(dir, 'ct'), { ...common, modality: 'CT', slices: 2, seed: 11 });
    mr = await writeSyntheticSeries(join(dir, 'mr'), {
      ...common,
      modality: 'MR',
      slices: 3,
      multiFrame: true,
      seed: 12,
    });
    ({ server, url } = await startTestSegmentationServer({
      dir,
      logs,
      loadBundle: async () => testBundle(4, 1e9),
      maxRequestBytes: 64 * 1024,
      maxImagePixels: 100 * 100,
      baseModel: { preset: 'casam-tiny', fingerprint: 'sha256:' + 'ab'.repeat(32) },
    }));
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (query: string, body: Uint8Array | string, headers: Record<string, string> = {}) =>
    fetch(`${url}/v1/segment${query}`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/dicom', ...headers },
    });
  const fileBytes = (file: string) => new Uint8Array(readFileSync(file));
  const errorOf = async (r: Response) =>
    ((await r.json()) as { error: { code: string; message: string } }).error;

  it('segments a CT instance: the JSON mask equals the mask of the DICOM-SEG, which references the source', async () => {
    const slice = ct.slices[1];
    const body = fileBytes(slice.file);
    const asJson = await post('?box=10,8,60,50', body);
    expect(asJson.status).toBe(200);
    const j = (await asJson.json()) as SegmentResponseJson;
    expect(j).toMatchObject({ decision: 'task', taskId: 'liver', bundleVersion: 4, width: 80, height: 64 });
    const png = decodeImage(new Uint8Array(Buffer.from(j.maskPng, 'base64')));

    // application/dicom+json is not a SEG: the JSON answer.
    const plusJson = await post('?box=10,8,60,50', body, { accept: 'application/dicom+json' });
    expect(plusJson.headers.get('content-type')).toMatch(/^application\/json/);
    await plusJson.arrayBuffer();
    const asSeg = await post('?box=10,8,60,50', body, { accept: 'text/html;q=0.5, application/dicom;q=0.9' });
    expect(asSeg.status).toBe(200);
    expect(asSeg.headers.get('content-type')).toBe('application/dicom');
    expect(JSON.parse(asSeg.headers.get('x-casam-decision')!)).toMatchObject({
      taskId: 'liver',
      bundleVersion: 4,
    });
    const seg = readDicomSegFrames(new Uint8Array(await asSeg.arrayBuffer()));
    expect([seg.rows, seg.columns]).toEqual([64, 80]);
    expect(seg.frames).toHaveLength(1);
    expect(seg.frames[0]).toMatchObject({ referencedSopInstanceUid: slice.sopInstanceUid });
    expect(seg.frames[0].referencedFrameNumber).toBeUndefined();
    const pngMask = Array.from({ length: 64 * 80 }, (_, i) => (png.data[3 * i] > 0 ? 1 : 0));
    expect(Array.from(seg.frames[0].mask)).toEqual(pngMask);
    // The SEG goes back to the same PACS: it carries the study's identity and names what made the mask.
    expect(seg.dataset).toMatchObject({
      PatientID: 'PID-SERVE',
      StudyInstanceUID: ct.studyInstanceUid,
      AccessionNumber: 'ACC11',
    });
    expect(seg.segments).toEqual([expect.objectContaining({ number: 1, label: 'liver' })]);
    expect(seg.segments[0].algorithmName).toMatch(/Liver CT/);
    expect(JSON.stringify(seg.dataset)).toMatch(/casam-tiny@abababab/);
  });

  it('takes a frame of a multi-frame instance (frame=…) and a named window', async () => {
    const body = fileBytes(mr.files[0]);
    const r = await post('?box=10,8,60,50&frame=3&window=mr-auto', body, { accept: 'application/dicom' });
    expect(r.status).toBe(200);
    const seg = readDicomSegFrames(new Uint8Array(await r.arrayBuffer()));
    expect(seg.frames[0]).toMatchObject({
      referencedSopInstanceUid: mr.slices[0].sopInstanceUid,
      referencedFrameNumber: 3,
    });
    const missing = await post('?box=10,8,60,50', body);
    expect([missing.status, (await errorOf(missing)).code]).toEqual([400, 'bad_frame']);
    expect((await errorOf(await post('?box=10,8,60,50&frame=4', body))).message).toMatch(/beyond .* 3 frame/);
    const badWindow = await post('?box=10,8,60,50&frame=1&window=disco', body);
    expect([badWindow.status, (await errorOf(badWindow)).message]).toEqual([
      400,
      expect.stringMatching(/ct-abdomen/),
    ]);
  });

  it('answers a file that cannot be used with a clear 4xx carrying the DICOM problem code', async () => {
    const sc = (size: number) =>
      writeTestInstance({
        patientId: 'P',
        patientName: 'P^Q',
        studyUid: '1.2.3.1',
        seriesUid: '1.2.3.2',
        sopUid: '1.2.3.3',
        size,
      });
    const cases: [Response, number, string][] = [
      [await post('?box=1,1,5,5', 'definitely not DICOM'), 400, 'not-dicom'],
      [
        await post('?box=1,1,5,5', relabelled(await rleFile(dir), JPEG_LS)),
        415,
        'unsupported-transfer-syntax',
      ],
      [
        await post('?box=1,1,5,5', withTransferSyntax(sc(8), '1.2.840.10008.1.2.9')),
        415,
        'unsupported-transfer-syntax',
      ],
      [await post('?box=1,1,5,5', sc(8).subarray(0, 400)), 400, 'not-dicom'],
      [await post('?box=1,1,5,5', await withoutPixels()), 400, 'no-pixel-data'],
      [await post('?box=1,1,5,5', sc(128)), 413, 'too-large'],
      [await post('?box=1,1,5,5', withRowsColumns(await rleFile(dir), 60000)), 413, 'too-large'],
      [await post('?box=1,1,5,5', new Uint8Array(100 * 1024)), 413, 'too_large'],
      [
        await post('?box=1,1,5,5&frame=1', encodeRgbPng({ width: 8, height: 8, data: new Uint8Array(192) }), {
          'content-type': 'image/png',
        }),
        400,
        'bad_prompt',
      ],
      [
        await post('?box=1,1,5,5', encodeRgbPng({ width: 8, height: 8, data: new Uint8Array(192) }), {
          'content-type': 'image/png',
          accept: 'application/dicom',
        }),
        406,
        'not_acceptable',
      ],
    ];
    for (const [r, status, code] of cases) {
      const e = await errorOf(r);
      expect([r.status, e.code], e.message).toEqual([status, code]);
      expect(e.message.length).toBeGreaterThan(10);
    }
    // Still serving after all of it.
    expect((await post('?box=1,1,5,5', sc(8))).status).toBe(200);
  });

  it('never answers a damaged instance with a 500: cut-short and byte-flipped files get 200 or a 4xx', async () => {
    const good = fileBytes(ct.slices[0].file);
    const random = seededRandom(99);
    const bodies: Uint8Array[] = [];
    for (let k = 0; k < 16; k++) bodies.push(good.subarray(0, Math.floor(random() * good.length)));
    for (let k = 0; k < 16; k++) {
      // Flips within the header and the first pixels, where a parser trips.
      const body = good.slice();
      body[128 + Math.floor(random() * 1200)] = Math.floor(random() * 256);
      bodies.push(body);
    }
    const statuses: number[] = [];
    for (const body of bodies) {
      const r = await post('?box=1,1,5,5', body);
      statuses.push(r.status);
      if (r.status !== 200) {
        // A reader's DicomProblem code, not a catch-all: every failure here is one the library names.
        expect((await errorOf(r)).code).toMatch(
          /^(not-dicom|no-pixel-data|unsupported-[a-z-]+|too-large|inconsistent-geometry)$/,
        );
      } else await r.arrayBuffer();
    }
    expect(statuses.filter((s) => s !== 200 && (s < 400 || s >= 500))).toEqual([]);
    expect(statuses.filter((s) => s >= 400).length).toBeGreaterThan(8);
    expect(logs.filter((l) => l.includes('internal error'))).toEqual([]);
    expect((await post('?box=1,1,5,5', good)).status).toBe(200);
  });
});

/** An 8×8 RLE Lossless CT instance. */
async function rleFile(dir: string): Promise<Uint8Array> {
  const s = await writeSyntheticSeries(join(dir, 'rle'), {
    modality: 'CT',
    slices: 1,
    rows: 8,
    cols: 8,
    transferSyntax: 'rle',
    patientId: 'P',
    patientName: 'P^Q',
    seed: 3,
  });
  return new Uint8Array(readFileSync(s.files[0]));
}

const RLE = '1.2.840.10008.1.2.5';
const JPEG_LS = '1.2.840.10008.1.2.4.80';

/**
 * The RLE file relabelled as JPEG-LS: the codec is handed RLE segments as a JPEG-LS stream and cannot decode
 * them. The meta header's element and group lengths are corrected, so the file itself still parses.
 */
function relabelled(bytes: Uint8Array, uid: string): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1');
  const at = text.indexOf(`UI\x14\x00${RLE}\0`);
  if (at < 0) throw new Error('no RLE transfer syntax in the meta header');
  const value = Buffer.from(uid.length % 2 ? `${uid}\0` : uid, 'latin1');
  const grown = value.length - 20;
  const out = new Uint8Array(bytes.length + grown);
  out.set(bytes.subarray(0, at + 4));
  out.set(value, at + 4);
  out.set(bytes.subarray(at + 24), at + 4 + value.length);
  const view = new DataView(out.buffer);
  view.setUint16(at + 2, value.length, true);
  // (0002,0000) File Meta Information Group Length, UL, right after the preamble and "DICM".
  view.setUint32(140, view.getUint32(140, true) + grown, true);
  return out;
}

/** A CT image instance without Pixel Data. */
function withoutPixels(): Promise<Uint8Array> {
  return datasetToPart10({
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.2',
    SOPInstanceUID: '1.2.3.4.1',
    StudyInstanceUID: '1.2.3.4.2',
    SeriesInstanceUID: '1.2.3.4.3',
    Modality: 'CT',
    Rows: 8,
    Columns: 8,
    BitsAllocated: 16,
    BitsStored: 16,
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
  });
}

/** The file with its meta header's Transfer Syntax UID replaced (same length: the meta length stays right). */
function withTransferSyntax(bytes: Uint8Array, uid: string): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1');
  const at = text.indexOf('1.2.840.10008.1.2.1\0');
  if (at < 0) throw new Error('no explicit VR little endian UID in the meta header');
  const replacement = uid.padEnd(20, '\0').slice(0, 20);
  if (replacement.length !== 20 || uid.length > 20) throw new Error('the UID must fit 20 bytes');
  const out = bytes.slice();
  out.set(Buffer.from(replacement, 'latin1'), at);
  return out;
}
