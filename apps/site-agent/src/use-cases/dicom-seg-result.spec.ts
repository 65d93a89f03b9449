import { readDicomSegFrames, SegInputError, type SegSourceFrame } from '@casam/dicom';
import { describe, expect, it } from 'vitest';
import { baseModelName, dicomSegResult, type DicomSegResultRequest } from './dicom-seg-result';

// One CT slice of 6×5 (30 pixels: frames do not end on a byte boundary).
const source: SegSourceFrame = {
  sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
  sopInstanceUid: '1.2.826.0.1.77.2.1',
  seriesInstanceUid: '1.2.826.0.1.77.2',
  studyInstanceUid: '1.2.826.0.1.77',
  frameOfReferenceUid: '1.2.826.0.1.77.9',
  rows: 6,
  columns: 5,
  imagePositionPatient: [0, 0, 12.5],
  imageOrientationPatient: [1, 0, 0, 0, 1, 0],
  pixelSpacing: [0.7, 0.7],
  identity: { PatientID: 'PAT-77', PatientName: 'Doe^Ann', AccessionNumber: 'ACC-77' },
};
const mask = Uint8Array.from({ length: 30 }, (_, i) => (i % 4 === 1 || i === 29 ? 255 : 0));
const tasks = [
  { taskId: 't-liver', name: 'Liver CT', adapterVersion: 3, targetStructures: ['liver'] },
  { taskId: 't-abd', name: 'Abdomen', adapterVersion: 1, targetStructures: ['kidney', 'spleen'] },
];
const request = (decision: DicomSegResultRequest['decision']): DicomSegResultRequest => ({
  source,
  mask,
  decision,
  tasks,
  baseModel: { preset: 'casam-small', fingerprint: 'sha256:1a2b3c4d5e6f' },
  softwareVersion: '0.1.0',
  now: new Date('2026-12-06T18:00:00Z'),
});

describe('dicomSegResult', () => {
  it('names the routed task, its adapter, the bundle and the base model, labels the class, and keeps the mask', () => {
    const seg = readDicomSegFrames(
      dicomSegResult(request({ decision: 'task', taskId: 't-liver', bundleVersion: 12 })),
    );
    const name = 'CA-SAM Liver CT adapter 3 bundle 12 base casam-small@1a2b3c4d';
    expect(seg.segments).toEqual([{ number: 1, label: 'liver', algorithmName: name }]);
    expect(seg.dataset.SeriesDescription).toBe(name);
    expect(seg.frames).toHaveLength(1);
    expect(seg.frames[0].referencedSopInstanceUid).toBe(source.sopInstanceUid);
    expect(seg.frames[0].mask).toEqual(mask.map((v) => (v ? 1 : 0)));
    expect(seg.dataset.PatientID).toBe('PAT-77');
  });

  it('labels a task of several structures with its name', () => {
    const seg = readDicomSegFrames(
      dicomSegResult(request({ decision: 'task', taskId: 't-abd', bundleVersion: 12 })),
    );
    expect(seg.segments[0].label).toBe('Abdomen');
    expect(seg.segments[0].algorithmName).toContain('adapter 1 bundle 12');
  });

  it('names a fallback frozen SAM, not the task that refused the image', () => {
    const seg = readDicomSegFrames(
      dicomSegResult(request({ decision: 'fallback', taskId: 't-liver', bundleVersion: null })),
    );
    expect(seg.segments[0]).toEqual({
      number: 1,
      label: 'object',
      algorithmName: 'CA-SAM frozen SAM base casam-small@1a2b3c4d',
    });
  });

  it('refuses a mask that is not the source size, and a task missing from the bundle', () => {
    const wrong = {
      ...request({ decision: 'task', taskId: 't-liver', bundleVersion: 12 }),
      mask: new Uint8Array(25),
    };
    expect(() => dicomSegResult(wrong)).toThrow(SegInputError);
    expect(() => dicomSegResult(request({ decision: 'task', taskId: 't-gone', bundleVersion: 12 }))).toThrow(
      /t-gone, which the bundle's task list lacks/,
    );
  });

  it('shortens the base model fingerprint to 8 hex digits', () => {
    expect(baseModelName({ preset: 'vit_b', fingerprint: 'sha256:abcdef0123456789' })).toBe('vit_b@abcdef01');
  });
});
