import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SyntheticSeries, writeSegFor, writeSyntheticSeries } from '../testing';
import { type SliceStack, assembleSeries } from '../read/assemble-series';
import { DicomProblem } from '../read/dicom-problem';
import { parsePart10 } from '../read/parse-part10';
import { imageFromParsed } from '../read/read-dicom-instance';
import { readSegMasks } from './read-seg-masks';

let dir: string;
let ct: SyntheticSeries;
let ctSeries: SliceStack;

const parse = async (file: string) => parsePart10(new Uint8Array(await readFile(file)), file);
async function load(series: SyntheticSeries): Promise<SliceStack> {
  const instances = await Promise.all(series.files.map(async (f) => imageFromParsed(await parse(f))));
  return assembleSeries(instances).series[0];
}
/** The object's left half: overlaps 'object', to check that the later class wins in the label map. */
const leftHalf = (series: SyntheticSeries) =>
  series.objectMasks.map((m) => m.map((v, i) => (v && i % series.cols < series.cols / 2 ? 1 : 0)));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'casam-dicom-seg-'));
  ct = await writeSyntheticSeries(join(dir, 'ct'), {
    modality: 'CT',
    slices: 5,
    rows: 12,
    cols: 11,
    patientId: 'P1',
    patientName: 'S^G',
    seed: 21,
  });
  ctSeries = await load(ct);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('readSegMasks', () => {
  it('reads a bit-packed BINARY SEG onto the referenced slices, with names and a label map', async () => {
    // 12×11 = 132 pixels per frame: not a multiple of 8, so frames share bytes in the packed data.
    const seg = await writeSegFor(ct, [
      { label: 'object', masks: ct.objectMasks },
      { label: 'left', masks: leftHalf(ct) },
    ]);
    const set = readSegMasks(await parse(seg.file), ctSeries);
    expect(set.problems).toEqual([]);
    expect(set.classNames).toEqual(['object', 'left']);
    expect(set.frames.map((f) => f.sliceIndex)).toEqual([0, 1, 2, 3, 4]);
    for (const frame of set.frames) {
      expect(frame.sopInstanceUid).toBe(ct.slices[frame.sliceIndex].sopInstanceUid);
      expect(frame.masks.object).toEqual(ct.objectMasks[frame.sliceIndex]);
      expect(frame.masks.left).toEqual(leftHalf(ct)[frame.sliceIndex]);
      const expected = ct.objectMasks[frame.sliceIndex].map((v, i) =>
        leftHalf(ct)[frame.sliceIndex][i] ? 2 : v,
      );
      expect(frame.labelMap).toEqual(expected);
    }
  });

  it('reads FRACTIONAL SEGs, and matches frames by position when there are no references', async () => {
    for (const options of [{ fractional: true }, { withoutReferences: true }]) {
      const seg = await writeSegFor(ct, [{ label: 'object', masks: ct.objectMasks }], {
        ...options,
        seed: 5,
      });
      const set = readSegMasks(await parse(seg.file), ctSeries);
      expect(set.problems).toEqual([]);
      expect(set.frames.map((f) => f.masks.object)).toEqual(ct.objectMasks);
    }
  });

  it('without references, a frame whose plane has no slice in the series is a problem, not a guess', async () => {
    const seg = await writeSegFor(ct, [{ label: 'object', masks: ct.objectMasks }], {
      withoutReferences: true,
    });
    const gappy = { ...ctSeries, slices: ctSeries.slices.filter((_, k) => k !== 2) };
    const set = readSegMasks(await parse(seg.file), gappy);
    expect(set.frames.map((f) => f.sopInstanceUid)).toEqual(
      ct.slices.filter((_, k) => k !== 2).map((s) => s.sopInstanceUid),
    );
    expect(set.problems.map((p) => p.message)).toEqual([
      `${seg.file}: 1 SEG frame(s) not used: no source image reference and no slice of the series at its PlanePositionSequence position`,
    ]);
  });

  it('matches multi-frame sources by ReferencedFrameNumber', async () => {
    const mr = await writeSyntheticSeries(join(dir, 'mr'), {
      modality: 'MR',
      slices: 4,
      rows: 9,
      cols: 10,
      multiFrame: true,
      patientId: 'P2',
      patientName: 'M^F',
      seed: 22,
    });
    const seg = await writeSegFor(mr, [{ label: 'object', masks: mr.objectMasks }]);
    const set = readSegMasks(await parse(seg.file), await load(mr));
    expect(set.frames.map((f) => f.frameNumber)).toEqual(mr.slices.map((s) => s.frameNumber));
    expect(set.frames.map((f) => f.masks.object)).toEqual(mr.objectMasks);
  });

  it('reports frames referencing instances outside the series as unknown-reference and keeps the rest', async () => {
    const seg = await writeSegFor(ct, [{ label: 'object', masks: ct.objectMasks }], {
      unknownReferenceSlices: [1, 3],
    });
    const set = readSegMasks(await parse(seg.file), ctSeries);
    expect(set.frames.map((f) => f.sliceIndex)).toEqual([0, 2, 4]);
    expect(set.problems).toHaveLength(2);
    expect(set.problems.map((p) => p.code)).toEqual(['unknown-reference', 'unknown-reference']);
    expect(set.problems[0].message).toMatch(
      /1 SEG frame\(s\) not used: references instance .*\.9991, which is not in series/,
    );
  });

  it('refuses a SEG of another size or a non-SEG file as a whole', async () => {
    const seg = await parse((await writeSegFor(ct, [{ label: 'object', masks: ct.objectMasks }])).file);
    const error = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e as DicomProblem;
      }
      throw new Error('expected a DicomProblem');
    };
    expect(error(() => readSegMasks(seg, { ...ctSeries, rows: 13 })).code).toBe('inconsistent-geometry');
    const image = await parse(ct.files[0]);
    expect(error(() => readSegMasks(image, ctSeries)).message).toMatch(
      /CT Image Storage\) is not a DICOM-SEG/,
    );
  });

  it.runIf(existsSync('/usr/bin/dcmdump'))(
    'writes a SEG that dcmtk reads and dciodvfy accepts without errors',
    async () => {
      const seg = await writeSegFor(ct, [{ label: 'object', masks: ct.objectMasks }]);
      expect(execFileSync('dcmdump', [seg.file], { encoding: 'utf8' })).toContain('SegmentationStorage');
      if (!existsSync('/usr/bin/dciodvfy')) return;
      const report = execFileSync('sh', ['-c', `dciodvfy "${seg.file}" 2>&1 || true`], { encoding: 'utf8' });
      expect(report.split('\n').filter((line) => line.startsWith('Error'))).toEqual([]);
    },
  );
});
