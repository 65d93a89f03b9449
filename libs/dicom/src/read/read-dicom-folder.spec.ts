import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dcmjs from 'dcmjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type SyntheticSeries,
  datasetToPart10,
  ellipseContours,
  writeRtstructFor,
  writeSegFor,
  writeSyntheticSeries,
} from '../testing';
import { parsePart10 } from './parse-part10';
import { type DicomFolder, readDicomFolder } from './read-dicom-folder';
import { toGray8 } from './voi-window';

let root: string;
let ct: SyntheticSeries;
let mr: SyntheticSeries;
let folder: DicomFolder;
const identity = { patientId: 'PAT-4711', patientName: 'Musterfrau^Erika' };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'casam-dicom-folder-'));
  const dir = join(root, 'export');
  ct = await writeSyntheticSeries(join(dir, 'study', 'ct'), {
    modality: 'CT',
    slices: 4,
    rows: 10,
    cols: 9,
    seed: 41,
    ...identity,
  });
  mr = await writeSyntheticSeries(join(dir, 'study', 'mr'), {
    modality: 'MR',
    slices: 3,
    rows: 8,
    cols: 8,
    multiFrame: true,
    seed: 42,
    studyInstanceUid: ct.studyInstanceUid,
    ...identity,
  });
  await writeSegFor(ct, [{ label: 'tumour', masks: ct.objectMasks }]);
  await writeRtstructFor(mr, ellipseContours(mr, 'kidney', 32));
  // A SEG for a series that is not in the folder.
  const elsewhere = await writeSyntheticSeries(join(root, 'elsewhere'), {
    modality: 'CT',
    slices: 2,
    rows: 10,
    cols: 9,
    seed: 43,
    ...identity,
  });
  await writeSegFor(elsewhere, [{ label: 'x', masks: elsewhere.objectMasks }], {
    file: join(dir, 'orphan-seg.dcm'),
  });
  // Files a real export folder holds besides images.
  await writeFile(join(dir, 'DICOMDIR'), 'index, skipped by name');
  await writeFile(join(dir, 'notes.txt'), 'not DICOM');
  const header = {
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.2',
    SOPInstanceUID: '2.25.1',
    StudyInstanceUID: '2.25.2',
    SeriesInstanceUID: '2.25.3',
    Modality: 'CT',
  };
  await writeFile(join(dir, 'no-pixels.dcm'), await datasetToPart10(header));
  const mpeg = dcmjs.data.datasetToDict({
    ...header,
    SOPInstanceUID: '2.25.4',
    _meta: { TransferSyntaxUID: { Value: ['1.2.840.10008.1.2.4.100'] } },
  });
  await mkdir(join(dir, 'video'), { recursive: true });
  await writeFile(join(dir, 'video', 'clip'), new Uint8Array(mpeg.write()));
  folder = await readDicomFolder(dir);
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe('readDicomFolder', () => {
  it('returns each series in geometric order, windowed from the tags, with identity kept apart', () => {
    expect(folder.series.map((s) => s.modality).sort()).toEqual(['CT', 'MR']);
    const series = folder.series.find((s) => s.modality === 'CT')!;
    expect(series.slices.map((s) => s.sopInstanceUid)).toEqual(ct.slices.map((s) => s.sopInstanceUid));
    expect(series.window).toEqual({ center: 40, width: 400, explanation: 'ABDOMEN' });
    series.slices.forEach((slice, k) => {
      expect([slice.width, slice.height, slice.frame]).toEqual([9, 10, 1]);
      expect(slice.gray8).toEqual(toGray8(ct.values[k], { center: 40, width: 400 }));
    });
    expect(series.identity).toMatchObject({ patientId: 'PAT-4711', patientName: 'Musterfrau^Erika' });
    // Identifiers live only under `identity` keys (wherever the result nests instances), never in names,
    // windows, masks or problem messages.
    const withoutIdentity = JSON.stringify(folder, (key, value) => (key === 'identity' ? undefined : value));
    expect(withoutIdentity).not.toMatch(/PAT-4711|Musterfrau/);
    expect(JSON.stringify(folder)).toMatch(/PAT-4711/); // the check above would see them if they were there
  });

  it('attaches SEG masks to CT slices and RTSTRUCT masks to multi-frame MR frames, by reference', () => {
    const ctSeries = folder.series.find((s) => s.modality === 'CT')!;
    expect(ctSeries.classNames).toEqual(['tumour']);
    ctSeries.slices.forEach((slice, k) => expect(slice.masks?.tumour).toEqual(ct.objectMasks[k]));
    const mrSeries = folder.series.find((s) => s.modality === 'MR')!;
    expect(mrSeries.classNames).toEqual(['kidney']);
    expect(mrSeries.slices.map((s) => s.frame)).toEqual(mr.slices.map((s) => s.frameNumber));
    mrSeries.slices.forEach((slice, k) => {
      const overlap = slice.masks!.kidney.reduce((n, v, i) => n + (v & mr.objectMasks[k][i]), 0);
      expect(overlap / mr.objectMasks[k].reduce((a, b) => a + b, 0)).toBeGreaterThan(0.7);
    });
  });

  it('lists each bad file once with its reason, and skips DICOMDIR', () => {
    const byCode = Object.fromEntries(folder.problems.map((p) => [p.file.split('/').pop(), p]));
    expect(Object.keys(byCode).sort()).toEqual(['clip', 'no-pixels.dcm', 'notes.txt', 'orphan-seg.dcm']);
    expect(byCode['notes.txt'].code).toBe('not-dicom');
    expect(byCode['no-pixels.dcm'].code).toBe('no-pixel-data');
    expect(byCode['clip'].code).toBe('unsupported-transfer-syntax');
    expect(byCode['clip'].message).toMatch(/1\.2\.840\.10008\.1\.2\.4\.100 \(MPEG2 Main Profile/);
    expect(byCode['orphan-seg.dcm'].code).toBe('unknown-reference');
  });

  it('refuses a series with two slices at one position as inconsistent-geometry, and keeps the other series', async () => {
    const dir = join(root, 'duplicate');
    const good = await writeSyntheticSeries(join(dir, 'good'), {
      modality: 'MR',
      slices: 2,
      rows: 6,
      cols: 6,
      seed: 44,
      ...identity,
    });
    const bad = await writeSyntheticSeries(join(dir, 'bad'), {
      modality: 'CT',
      slices: 3,
      rows: 6,
      cols: 6,
      seed: 45,
      ...identity,
    });
    // A second instance (new SOP Instance UID) at the position of the first slice: a re-export gone wrong.
    const copy = (await parsePart10(new Uint8Array(await readFile(bad.slices[0].file)), 'x')).dataset;
    await writeFile(
      join(dir, 'bad', 'copy.dcm'),
      await datasetToPart10({ ...copy, SOPInstanceUID: '2.25.77' }),
    );
    const read = await readDicomFolder(dir);
    expect(read.series.map((s) => s.seriesInstanceUid)).toEqual([good.seriesInstanceUid]);
    expect(read.problems).toHaveLength(1);
    expect(read.problems[0].code).toBe('inconsistent-geometry');
    expect(read.problems[0].message).toMatch(
      new RegExp(`series ${bad.seriesInstanceUid} .*two frames at the same position -40\\.000 mm`),
    );
  });

  it('renders with a named preset or percentiles when asked', async () => {
    const dir = join(root, 'export', 'study');
    const progress: [number, number][] = [];
    const lung = await readDicomFolder(dir, {
      window: 'ct-lung',
      onProgress: (d, t) => progress.push([d, t]),
    });
    // ct: 4 slices + SEG; mr: 1 multi-frame file + RTSTRUCT.
    expect(progress.at(-1)).toEqual([7, 7]);
    expect(progress.map(([d]) => d)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const ctLung = lung.series.find((s) => s.modality === 'CT')!;
    expect(ctLung.window).toEqual({ center: -600, width: 1500 });
    expect(ctLung.slices[0].gray8).toEqual(toGray8(ct.values[0], { center: -600, width: 1500 }));
    const auto = await readDicomFolder(join(dir, 'mr'), { window: 'mr-auto' });
    const { center, width } = auto.series[0].window;
    // Background ~200 ± 100 and object ~3000 ± 100: the 1st–99th percentiles span roughly 100..3100.
    expect(center).toBeGreaterThan(1400);
    expect(center).toBeLessThan(1800);
    expect(width).toBeGreaterThan(2600);
    expect(width).toBeLessThan(3200);
  });
});
