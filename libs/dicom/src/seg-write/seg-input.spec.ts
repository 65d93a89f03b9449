import { describe, expect, it } from 'vitest';
import { SegInputError, maskFor, validateSegInput, type WriteDicomSegInput } from './seg-input';
import { ctSlices, flatImage, segInput } from './seg-input.testing';
import { writeDicomSeg } from './write-dicom-seg';

const rejects = (input: WriteDicomSegInput, message: RegExp) => {
  expect(() => validateSegInput(input)).toThrow(SegInputError);
  expect(() => validateSegInput(input)).toThrow(message);
};

describe('validateSegInput', () => {
  it('accepts the fixtures', () => {
    expect(() => validateSegInput(segInput(ctSlices(3)))).not.toThrow();
    expect(() => validateSegInput(segInput([flatImage()]))).not.toThrow();
  });

  it('rejects empty sources and empty segments', () => {
    rejects({ ...segInput(ctSlices(1)), sources: [] }, /no source frames/);
    rejects({ ...segInput(ctSlices(1)), segments: [] }, /no segments/);
  });

  it('rejects segment numbers that are not 1, 2, 3, … and empty labels', () => {
    rejects({ ...segInput(ctSlices(1)), segments: [{ number: 2, label: 'liver' }] }, /got 2 at position 1/);
    rejects(
      { ...segInput(ctSlices(1)), segments: [{ number: 1, label: '  ' }] },
      /segment 1 has an empty label/,
    );
    rejects(
      { ...segInput(ctSlices(1)), segments: [{ number: 1, label: 'x', color: [0, 300, 0] }] },
      /colour/,
    );
  });

  it('rejects a mixed frame of reference, another study, another frame size', () => {
    const [a, b] = ctSlices(2);
    rejects(segInput([a, { ...b, frameOfReferenceUid: '1.2.3' }]), /source 1 .*mixed frame of reference/);
    rejects(segInput([a, { ...b, studyInstanceUid: '1.2.3' }]), /another study/);
    rejects(segInput([a, { ...b, rows: 6 }]), /6×7 differs from 5×7/);
  });

  it('rejects inconsistent geometry', () => {
    const [a, b] = ctSlices(2);
    rejects(segInput([a, { ...b, imagePositionPatient: undefined }]), /some sources have image position/);
    rejects(segInput([a, { ...b, imageOrientationPatient: [0, 1, 0, 0, 0, -1] }]), /orientation differs/);
    rejects(segInput([a, { ...b, pixelSpacing: [1, 1] }]), /pixel spacing/);
    rejects(segInput([{ ...a, pixelSpacing: undefined }]), /needs pixel spacing/);
    rejects(
      segInput([
        { ...a, frameOfReferenceUid: undefined },
        { ...b, frameOfReferenceUid: undefined },
      ]),
      /no frame of reference/,
    );
  });

  it('rejects duplicate sources, bad UIDs and bad frame numbers', () => {
    const [a] = ctSlices(1);
    rejects(segInput([a, a]), /listed twice/);
    rejects(segInput([{ ...a, sopInstanceUid: '1.02.3' }]), /"1.02.3" is not a DICOM UID/);
    rejects(segInput([{ ...a, frameNumber: 0 }]), /frame number must be a positive integer/);
    rejects({ ...segInput([a]), uidRoot: '2.25.' }, /uidRoot/);
  });

  it('rejects two sources at the same position when the SEG is written', () => {
    const [a, b] = ctSlices(2);
    expect(() =>
      writeDicomSeg(segInput([a, { ...b, imagePositionPatient: a.imagePositionPatient }])),
    ).toThrow(/same position/);
  });
});

describe('maskFor', () => {
  it('names segment, source and sizes when a mask is missing or the wrong size', () => {
    const input = segInput(ctSlices(2));
    expect(maskFor(input, 1, 1)).toHaveLength(35);
    const wrong = { ...input, masks: () => new Uint8Array(34) };
    expect(() => maskFor(wrong, 2, 1)).toThrow(
      /segment 2 on source 1 has 34 pixels; expected rows×columns = 5×7 = 35/,
    );
    expect(() => writeDicomSeg(wrong)).toThrow(SegInputError);
    const missing = {
      ...input,
      masks: (segment: number) => (segment === 2 ? undefined : new Uint8Array(35)),
    };
    // Source 1 is the lower slice, so it is asked for first.
    expect(() => writeDicomSeg(missing)).toThrow(/no mask for segment 2 on source 1/);
  });
});
