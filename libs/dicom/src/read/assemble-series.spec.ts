import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SyntheticSeries, writeSyntheticSeries } from '../testing';
import { assembleSeries } from './assemble-series';
import type { DicomInstance } from './dicom-instance';
import { readDicomInstance } from './read-dicom-instance';

let dir: string;
let ct: SyntheticSeries;
let mr: SyntheticSeries;
let ctInstances: DicomInstance[];
let mrInstances: DicomInstance[];

const readAll = (files: string[]) =>
  Promise.all(files.map(async (f) => readDicomInstance(new Uint8Array(await readFile(f)), f)));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'casam-dicom-assemble-'));
  const identity = { patientId: 'P1', patientName: 'A^B' };
  ct = await writeSyntheticSeries(join(dir, 'ct'), {
    modality: 'CT',
    slices: 6,
    rows: 8,
    cols: 8,
    seed: 11,
    ...identity,
  });
  mr = await writeSyntheticSeries(join(dir, 'mr'), {
    modality: 'MR',
    slices: 5,
    rows: 6,
    cols: 7,
    multiFrame: true,
    seed: 12,
    ...identity,
  });
  ctInstances = await readAll(ct.files);
  mrInstances = await readAll(mr.files);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A copy of `instance` whose frame 0 geometry is changed by `edit`. */
function withGeometry(
  instance: DicomInstance,
  edit: Partial<NonNullable<DicomInstance['frames'][0]['geometry']>>,
) {
  const frame = instance.frames[0];
  return { ...instance, frames: [{ ...frame, geometry: { ...frame.geometry!, ...edit } }] } as DicomInstance;
}

describe('assembleSeries', () => {
  it('orders single-frame slices by position along the normal, not by file name or InstanceNumber', () => {
    // Files are written in shuffled order under random names with shuffled InstanceNumbers.
    const { series, problems } = assembleSeries([...ctInstances].reverse());
    expect(problems).toEqual([]);
    expect(series).toHaveLength(1);
    expect(series[0].slices.map((s) => s.sopInstanceUid)).toEqual(ct.slices.map((s) => s.sopInstanceUid));
    expect(series[0].slices.map((s) => s.location)).toEqual([-40, -37.5, -35, -32.5, -30, -27.5]);
    expect(series[0].normal).toEqual([0, 0, 1]);
    expect(series[0].identity.patientId).toBe('P1');
  });

  it('expands a multi-frame instance to its frames, in geometric order, beside other series', () => {
    const { series } = assembleSeries([...mrInstances, ...ctInstances]);
    const stack = series.find((s) => s.seriesInstanceUid === mr.seriesInstanceUid)!;
    expect(stack.slices.map((s) => s.frameNumber)).toEqual(mr.slices.map((s) => s.frameNumber));
    expect(new Set(stack.slices.map((s) => s.sopInstanceUid)).size).toBe(1);
    expect(series).toHaveLength(2);
  });

  it('orders by the normal for oblique or reversed orientations too', () => {
    // Rows along −x, columns along +y: the normal is (0,0,−1), so higher z comes first.
    const flipped = ctInstances.map((i) =>
      withGeometry(i, { rowDirection: [-1, 0, 0], columnDirection: [0, 1, 0] }),
    );
    const { series } = assembleSeries(flipped);
    expect(series[0].slices.map((s) => s.sopInstanceUid)).toEqual(
      ct.slices.map((s) => s.sopInstanceUid).reverse(),
    );
  });

  it('refuses a series with mixed orientations, duplicate positions or mixed sizes, keeping the others', () => {
    const [a, b, ...rest] = ctInstances;
    const cases: [DicomInstance[], RegExp][] = [
      [
        [withGeometry(a, { rowDirection: [0, 1, 0], columnDirection: [0, 0, -1] }), b, ...rest],
        /mixed orientations/,
      ],
      [[withGeometry(a, { position: b.frames[0].geometry!.position }), b, ...rest], /same position/],
      [[{ ...a, rows: 9 }, b, ...rest], /different sizes \(9×8, 8×8\)|different sizes \(8×8, 9×8\)/],
      [
        [{ ...a, frames: [{ ...a.frames[0], geometry: undefined }] }, b, ...rest],
        /1 of 6 frames have no Image/,
      ],
    ];
    for (const [instances, reason] of cases) {
      const { series, problems } = assembleSeries([...instances, ...mrInstances]);
      expect(series.map((s) => s.seriesInstanceUid)).toEqual([mr.seriesInstanceUid]);
      expect(problems).toHaveLength(1);
      expect(problems[0].code).toBe('inconsistent-geometry');
      expect(problems[0].message).toMatch(reason);
      expect(problems[0].message).toContain(ct.seriesInstanceUid);
    }
  });

  it('counts the same instance read twice once', () => {
    const { series, problems } = assembleSeries([...ctInstances, ctInstances[0]]);
    expect(problems).toEqual([]);
    expect(series[0].slices).toHaveLength(6);
  });
});
