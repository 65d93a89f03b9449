import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type SyntheticContour,
  type SyntheticSeries,
  ellipseContours,
  writeRtstructFor,
  writeSyntheticSeries,
} from '../testing';
import { type SliceStack, assembleSeries } from '../read/assemble-series';
import { parsePart10 } from '../read/parse-part10';
import { imageFromParsed } from '../read/read-dicom-instance';
import { readRtstructMasks } from './read-rtstruct-masks';

let dir: string;
let ct: SyntheticSeries;
let ctSeries: SliceStack;

const parse = async (file: string) => parsePart10(new Uint8Array(await readFile(file)), file);
async function load(series: SyntheticSeries): Promise<SliceStack> {
  const instances = await Promise.all(series.files.map(async (f) => imageFromParsed(await parse(f))));
  return assembleSeries(instances).series[0];
}
const rowsOf = (mask: Uint8Array, cols: number) =>
  Array.from({ length: mask.length / cols }, (_, r) =>
    Array.from(mask.subarray(r * cols, (r + 1) * cols)).join(''),
  );
const dice = (a: Uint8Array, b: Uint8Array) => {
  let both = 0;
  let sum = 0;
  a.forEach((v, i) => ((both += v & b[i]), (sum += v + b[i])));
  return (2 * both) / sum;
};

const rect = (
  roiName: string,
  sliceIndex: number,
  c0: number,
  r0: number,
  c1: number,
  r1: number,
): SyntheticContour => ({
  roiName,
  sliceIndex,
  points: [
    [c0, r0],
    [c1, r0],
    [c1, r1],
    [c0, r1],
  ],
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'casam-dicom-rt-'));
  ct = await writeSyntheticSeries(join(dir, 'ct'), {
    modality: 'CT',
    slices: 4,
    rows: 6,
    cols: 7,
    patientId: 'P1',
    patientName: 'R^T',
    seed: 31,
  });
  ctSeries = await load(ct);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('readRtstructMasks', () => {
  it('maps contours in patient mm back to exactly the pixels inside (holes by even-odd), per ROI name', async () => {
    const rt = await writeRtstructFor(ct, [
      rect('box', 2, 1.5, 0.5, 4.5, 2.5),
      rect('ring', 1, 0.5, 0.5, 5.5, 4.5),
      rect('ring', 1, 1.5, 1.5, 3.5, 2.5), // inner contour: a hole
    ]);
    const set = readRtstructMasks(await parse(rt.file), ctSeries);
    expect(set.problems).toEqual([]);
    expect(set.classNames).toEqual(['box', 'ring']);
    expect(set.frames.map((f) => [f.sliceIndex, f.sopInstanceUid])).toEqual([
      [1, ct.slices[1].sopInstanceUid],
      [2, ct.slices[2].sopInstanceUid],
    ]);
    expect(rowsOf(set.frames[1].masks.box, 7)).toEqual([
      '0000000',
      '0011100',
      '0011100',
      '0000000',
      '0000000',
      '0000000',
    ]);
    expect(rowsOf(set.frames[0].labelMap, 7)).toEqual([
      '0000000',
      '0222220',
      '0200220',
      '0222220',
      '0222220',
      '0000000',
    ]);
  });

  it('recovers the ellipse of every slice (Dice > 0.9), with or without ContourImageSequence', async () => {
    const big = await writeSyntheticSeries(join(dir, 'big'), {
      modality: 'CT',
      slices: 3,
      rows: 48,
      cols: 40,
      patientId: 'P1',
      patientName: 'R^T',
      seed: 32,
    });
    const bigSeries = await load(big);
    for (const withoutReferences of [false, true]) {
      const rt = await writeRtstructFor(big, ellipseContours(big, 'liver'), { withoutReferences, seed: 3 });
      const set = readRtstructMasks(await parse(rt.file), bigSeries);
      expect(set.frames).toHaveLength(3);
      set.frames.forEach((f, k) => expect(dice(f.masks.liver, big.objectMasks[k])).toBeGreaterThan(0.9));
    }
  });

  it('matches multi-frame sources by ReferencedFrameNumber', async () => {
    const mr = await writeSyntheticSeries(join(dir, 'mr'), {
      modality: 'MR',
      slices: 3,
      rows: 6,
      cols: 7,
      multiFrame: true,
      patientId: 'P2',
      patientName: 'M^R',
      seed: 33,
    });
    const rt = await writeRtstructFor(mr, [rect('box', 1, 1.5, 0.5, 4.5, 2.5)]);
    const set = readRtstructMasks(await parse(rt.file), await load(mr));
    expect(set.frames.map((f) => f.frameNumber)).toEqual([mr.slices[1].frameNumber]);
    expect(set.frames[0].masks.box.reduce((a, b) => a + b, 0)).toBe(6);
  });

  it('reports contours on instances outside the series as unknown-reference, keeps the rest', async () => {
    const rt = await writeRtstructFor(ct, [
      rect('box', 0, 1.5, 0.5, 4.5, 2.5),
      rect('box', 3, 1.5, 0.5, 4.5, 2.5),
    ]);
    const partial = { ...ctSeries, slices: ctSeries.slices.slice(0, 3) };
    const set = readRtstructMasks(await parse(rt.file), partial);
    expect(set.frames.map((f) => f.sliceIndex)).toEqual([0]);
    expect(set.problems).toEqual([
      {
        file: rt.file,
        code: 'unknown-reference',
        message: `${rt.file}: 1 contour(s) not used: references instance ${ct.slices[3].sopInstanceUid}, which is not in series ${ct.seriesInstanceUid}`,
      },
    ]);
  });

  it.runIf(existsSync('/usr/bin/dciodvfy'))(
    'writes an RTSTRUCT that dciodvfy accepts without errors',
    async () => {
      const rt = await writeRtstructFor(ct, ellipseContours(ct, 'object', 12));
      const report = execFileSync('sh', ['-c', `dciodvfy "${rt.file}" 2>&1 || true`], { encoding: 'utf8' });
      expect(report).toContain('RTStructureSet');
      expect(report.split('\n').filter((line) => line.startsWith('Error'))).toEqual([]);
    },
  );
});
