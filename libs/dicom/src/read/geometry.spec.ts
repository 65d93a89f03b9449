import { describe, expect, it } from 'vitest';
import { type FrameGeometry, frameGeometry, patientToPixel, pixelToPatient, sliceNormal } from './geometry';

describe('geometry', () => {
  const oblique: FrameGeometry = {
    position: [10, -20, 30],
    rowDirection: [Math.SQRT1_2, Math.SQRT1_2, 0],
    columnDirection: [0, 0, -1],
    pixelSpacing: [0.5, 2],
  };

  it('maps pixels to patient mm and back (spacing order: rows, then columns)', () => {
    // Column 3 → 3 × 2 mm along the row direction; row 4 → 4 × 0.5 mm along the column direction.
    const p = pixelToPatient(oblique, 3, 4);
    expect(p.map((v) => +v.toFixed(6))).toEqual([
      +(10 + 6 * Math.SQRT1_2).toFixed(6),
      +(-20 + 6 * Math.SQRT1_2).toFixed(6),
      28,
    ]);
    const back = patientToPixel(oblique, p);
    expect([+back.col.toFixed(9), +back.row.toFixed(9)]).toEqual([3, 4]);
    expect(sliceNormal(oblique).map((v) => +v.toFixed(6))).toEqual([-0.707107, 0.707107, 0]);
  });

  it('reads Enhanced functional groups: a per-frame macro overrides the shared one', () => {
    const ds = {
      SharedFunctionalGroupsSequence: [
        {
          PlaneOrientationSequence: [{ ImageOrientationPatient: [1, 0, 0, 0, 1, 0] }],
          PixelMeasuresSequence: [{ PixelSpacing: [0.5, 0.5] }],
        },
      ],
      PerFrameFunctionalGroupsSequence: [
        { PlanePositionSequence: [{ ImagePositionPatient: [0, 0, 1] }] },
        {
          PlanePositionSequence: [{ ImagePositionPatient: ['0', '0', '2.5'] }], // DS as strings
          PixelMeasuresSequence: [{ PixelSpacing: [0.7, 0.8] }],
        },
      ],
    };
    expect(frameGeometry(ds, 0)).toEqual({
      position: [0, 0, 1],
      rowDirection: [1, 0, 0],
      columnDirection: [0, 1, 0],
      pixelSpacing: [0.5, 0.5],
    });
    expect(frameGeometry(ds, 1)?.position).toEqual([0, 0, 2.5]);
    expect(frameGeometry(ds, 1)?.pixelSpacing).toEqual([0.7, 0.8]);
    expect(frameGeometry(ds, 2)).toBeUndefined(); // no such frame: no position, no guess
    expect(frameGeometry({ ImagePositionPatient: [1, 2] }, 0)).toBeUndefined(); // malformed, not a crash
  });
});
