// The SEG checked by an independent validator: dicom3tools' dciodvfy knows the IOD tables of PS3.3 and reports
// missing or malformed attributes as "Error - …" lines. CI installs it; without it this spec is skipped.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ctSlices, flatImage, mrFrames, segInput } from './seg-input.testing';
import { writeDicomSeg } from './write-dicom-seg';
import type { WriteDicomSegInput } from './seg-input';

const DCIODVFY = '/usr/bin/dciodvfy';
const hasValidator = existsSync(DCIODVFY);
const dir = mkdtempSync(join(tmpdir(), 'casam-seg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** dciodvfy's report: the lines it writes to stderr (it exits 1 when it finds errors, which the lines say). */
function validate(name: string, input: WriteDicomSegInput): string[] {
  const file = join(dir, `${name}.dcm`);
  writeFileSync(file, writeDicomSeg(input));
  const run = spawnSync(DCIODVFY, [file], { encoding: 'utf8' });
  if (run.error) throw run.error;
  return `${run.stdout}${run.stderr}`.split('\n').filter((line) => line.trim() !== '');
}

const cases: [string, () => WriteDicomSegInput][] = [
  ['a CT series with two segments (odd 5×7 frames)', () => segInput(ctSlices(3), ['2:1'])],
  ['frames of a multi-frame MR instance', () => segInput(mrFrames(3))],
  [
    'a 2D image without geometry, empty frames kept',
    () => ({ ...segInput([flatImage()], ['2:0']), omitEmptyFrames: false }),
  ],
  [
    'one CT slice that does not state its slice thickness',
    () => segInput(ctSlices(1).map((s) => ({ ...s, sliceThickness: undefined }))),
  ],
  ['only empty masks (one empty frame)', () => segInput(ctSlices(2), ['1:0', '1:1', '2:0', '2:1'])],
];

describe('writeDicomSeg output under dciodvfy', () => {
  it.skipIf(!hasValidator).each(cases)(
    hasValidator
      ? 'has no errors for %s'
      : 'has no errors for %s — SKIPPED: /usr/bin/dciodvfy absent (dicom3tools)',
    (name, make) => {
      const report = validate(name.replace(/\W+/g, '-'), make());
      // dciodvfy names the IOD it checked against first: a wrong SOP class would be validated as something else.
      expect(report[0]).toBe('Segmentation');
      expect(report.filter((line) => line.startsWith('Error'))).toEqual([]);
    },
  );
});
