import { data } from 'dcmjs';
import { describe, expect, it } from 'vitest';
import { readDicomSegFrames } from './seg-roundtrip';
import {
  ALGORITHM,
  IDENTITY,
  ctSlices,
  flatImage,
  mrFrames,
  patternMask,
  segInput,
} from './seg-input.testing';
import { writeDicomSeg } from './write-dicom-seg';

describe('writeDicomSeg → dcmjs read-back', () => {
  it('writes a CT series SEG whose every frame, reference and label reads back bit for bit (5×7 frames)', () => {
    const sources = ctSlices(3);
    const bytes = writeDicomSeg(segInput(sources, ['2:1']));
    const seg = readDicomSegFrames(bytes);

    expect([seg.rows, seg.columns]).toEqual([5, 7]);
    expect(seg.segments).toEqual([
      {
        number: 1,
        label: 'liver',
        algorithmName: 'CA-SAM liver adapter 3 bundle 12 base casam-small@1a2b3c4d',
      },
      {
        number: 2,
        label: 'tumour',
        algorithmName: 'CA-SAM liver adapter 3 bundle 12 base casam-small@1a2b3c4d',
      },
    ]);
    // Segment 1 on all three slices, segment 2 without its empty mask on source 1; each segment bottom-up
    // (source 2 lies lowest, at z = 0).
    expect(seg.frames.map((f) => [f.segmentNumber, f.referencedSopInstanceUid])).toEqual([
      [1, sources[2].sopInstanceUid],
      [1, sources[1].sopInstanceUid],
      [1, sources[0].sopInstanceUid],
      [2, sources[2].sopInstanceUid],
      [2, sources[0].sopInstanceUid],
    ]);
    for (const frame of seg.frames) {
      const sourceIndex = sources.findIndex((s) => s.sopInstanceUid === frame.referencedSopInstanceUid);
      expect(frame.mask).toEqual(patternMask(35, frame.segmentNumber, sourceIndex));
      expect(frame.referencedSopClassUid).toBe(sources[sourceIndex].sopClassUid);
      expect(frame.referencedFrameNumber).toBeUndefined();
      expect(frame.imagePositionPatient).toEqual(sources[sourceIndex].imagePositionPatient);
    }
    // 5 frames × 35 bits = 175 bits → 22 bytes, already even: no padding between frames.
    expect((seg.dataset.PixelData as ArrayBuffer[])[0].byteLength).toBe(22);
  });

  it('names each segment after its own algorithm when segments differ (a routed task and frozen SAM)', () => {
    const input = segInput(ctSlices(2));
    const frozen = {
      task: 'frozen SAM',
      bundleVersion: 12,
      baseModel: 'casam-small@1a2b3c4d',
      softwareVersion: '0.4.0',
    };
    const seg = readDicomSegFrames(
      writeDicomSeg({ ...input, segments: [input.segments[0], { ...input.segments[1], algorithm: frozen }] }),
    );
    expect(seg.segments.map((s) => s.algorithmName)).toEqual([
      'CA-SAM liver adapter 3 bundle 12 base casam-small@1a2b3c4d',
      'CA-SAM frozen SAM bundle 12 base casam-small@1a2b3c4d',
    ]);
  });

  it('copies patient, study and frame of reference and makes new UIDs under 2.25', () => {
    const { dataset } = readDicomSegFrames(writeDicomSeg(segInput(ctSlices(2))));
    expect(dataset.PatientName).toEqual([{ Alphabetic: IDENTITY.PatientName }]);
    expect(dataset.ReferringPhysicianName).toEqual([{ Alphabetic: IDENTITY.ReferringPhysicianName }]);
    for (const key of [
      'PatientID',
      'PatientBirthDate',
      'PatientSex',
      'StudyDate',
      'StudyTime',
      'StudyID',
      'AccessionNumber',
    ] as const) {
      expect(dataset[key]).toBe(IDENTITY[key]);
    }
    expect(dataset.StudyInstanceUID).toBe('1.2.826.0.1.42');
    expect(dataset.FrameOfReferenceUID).toBe('1.2.826.0.1.42.9');
    expect(dataset.SeriesInstanceUID).toMatch(/^2\.25\.\d+$/);
    expect(dataset.SOPInstanceUID).toMatch(/^2\.25\.\d+$/);
    expect(dataset.SeriesInstanceUID).not.toBe('1.2.826.0.1.42.2');
    expect([dataset.Modality, dataset.SegmentationType, dataset.ContentLabel]).toEqual([
      'SEG',
      'BINARY',
      'LIVER',
    ]);
    expect([dataset.ContentDate, dataset.ContentTime]).toEqual(['20261206', '173005']);
    expect(dataset.SeriesDescription).toBe('CA-SAM liver adapter 3 bundle 12 base casam-small@1a2b3c4d');
    expect(dataset.ContentDescription).toBe('CA-SAM liver adapter 3 bundle 12 base casam-small@1a2b3c4d');
    expect(dataset.SoftwareVersions).toEqual([
      'site-agent 0.4.0',
      'adapter 3',
      'bundle 12',
      'casam-small@1a2b3c4d',
    ]);
  });

  it('lists each source instance once, by series, and references source images per frame with the DICOM codes', () => {
    const sources = ctSlices(2);
    const { dataset } = readDicomSegFrames(writeDicomSeg(segInput(sources)));
    const series = dataset.ReferencedSeriesSequence as Record<string, unknown>[];
    expect(series).toHaveLength(1);
    expect(series[0].SeriesInstanceUID).toBe(sources[0].seriesInstanceUid);
    expect(
      (series[0].ReferencedInstanceSequence as Record<string, unknown>[]).map(
        (i) => i.ReferencedSOPInstanceUID,
      ),
    ).toEqual(sources.map((s) => s.sopInstanceUid));
    const frame = (
      dataset.PerFrameFunctionalGroupsSequence as Record<string, Record<string, unknown>[]>[]
    )[0];
    const derivation = frame.DerivationImageSequence[0] as Record<string, Record<string, unknown>[]>;
    expect(derivation.DerivationCodeSequence[0]).toMatchObject({
      CodeValue: '113076',
      CodingSchemeDesignator: 'DCM',
    });
    const purpose = (
      derivation.SourceImageSequence[0].PurposeOfReferenceCodeSequence as Record<string, unknown>[]
    )[0];
    expect(purpose).toMatchObject({
      CodeValue: '121322',
      CodeMeaning: 'Source image for image processing operation',
    });
    expect(frame.FrameContentSequence[0].DimensionIndexValues).toEqual([1, 1]);
    const shared = (dataset.SharedFunctionalGroupsSequence as Record<string, Record<string, unknown>[]>[])[0];
    expect(shared.PixelMeasuresSequence[0]).toMatchObject({ PixelSpacing: [0.8, 0.75], SliceThickness: 2.5 });
    expect(shared.PlaneOrientationSequence[0].ImageOrientationPatient).toEqual([1, 0, 0, 0, 1, 0]);
    const segment = (dataset.SegmentSequence as Record<string, unknown>[])[0];
    expect(segment.SegmentAlgorithmType).toBe('AUTOMATIC');
    // sRGB (221, 130, 101) as scaled CIELab, rounded.
    expect(segment.RecommendedDisplayCIELabValue).toEqual(
      data.Colors.rgb2DICOMLAB([221 / 255, 130 / 255, 101 / 255]).map((v) => Math.round(v)),
    );
  });

  it('writes the slice gap as SliceThickness when the source does not state one, and 1 mm for a lone slice', () => {
    const thickness = (sources: ReturnType<typeof ctSlices>) => {
      const { dataset } = readDicomSegFrames(writeDicomSeg(segInput(sources)));
      const shared = (
        dataset.SharedFunctionalGroupsSequence as Record<string, Record<string, unknown>[]>[]
      )[0];
      return shared.PixelMeasuresSequence[0].SliceThickness;
    };
    const unstated = ctSlices(3).map((s) => ({ ...s, sliceThickness: undefined }));
    expect(thickness(unstated)).toBe(2.5);
    expect(thickness(unstated.slice(0, 1))).toBe(1);
    expect(thickness(ctSlices(3).map((s) => ({ ...s, sliceThickness: 5 })))).toBe(5);
  });

  it('references frames of a multi-frame source by ReferencedFrameNumber (3×3 frames)', () => {
    const sources = mrFrames(3);
    const seg = readDicomSegFrames(writeDicomSeg(segInput(sources)));
    expect(seg.frames.map((f) => [f.segmentNumber, f.referencedFrameNumber])).toEqual([
      [1, 3],
      [1, 2],
      [1, 1],
      [2, 3],
      [2, 2],
      [2, 1],
    ]);
    seg.frames.forEach((f) =>
      expect(f.mask).toEqual(patternMask(9, f.segmentNumber, (f.referencedFrameNumber ?? 0) - 1)),
    );
    const series = seg.dataset.ReferencedSeriesSequence as Record<string, unknown[]>[];
    expect(series[0].ReferencedInstanceSequence).toHaveLength(1);
  });

  it('writes a 2D image without geometry as a stack, keeping empty frames when asked', () => {
    const input = { ...segInput([flatImage()], ['2:0']), omitEmptyFrames: false };
    const seg = readDicomSegFrames(writeDicomSeg(input));
    expect(seg.frames.map((f) => f.segmentNumber)).toEqual([1, 2]);
    expect(seg.frames[1].mask.every((v) => v === 0)).toBe(true);
    expect(seg.frames[0].mask).toEqual(patternMask(99, 1, 0));
    expect(seg.dataset.FrameOfReferenceUID).toBeUndefined();
    const content = (
      seg.dataset.PerFrameFunctionalGroupsSequence as Record<string, Record<string, unknown>[]>[]
    )[1].FrameContentSequence[0];
    expect(content).toMatchObject({ StackID: '1', InStackPositionNumber: 1, DimensionIndexValues: [2, 1] });
  });

  it('keeps one empty frame when every mask is empty, and uses a given UID root', () => {
    const input = {
      ...segInput(ctSlices(2), ['1:0', '1:1', '2:0', '2:1']),
      uidRoot: '1.2.826.0.1.3680043.10.1',
    };
    const seg = readDicomSegFrames(writeDicomSeg(input));
    expect(seg.frames).toHaveLength(1);
    expect(seg.frames[0].segmentNumber).toBe(1);
    expect(seg.frames[0].mask.some((v) => v !== 0)).toBe(false);
    expect(seg.sopInstanceUid.startsWith('1.2.826.0.1.3680043.10.1.')).toBe(true);
  });

  it('writes Part 10 with Explicit VR Little Endian and the Segmentation Storage class in the meta header', () => {
    const bytes = writeDicomSeg(segInput(ctSlices(1)));
    expect(new TextDecoder().decode(bytes.subarray(128, 132))).toBe('DICM');
    const dict = data.DicomMessage.readFile(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
    );
    const meta = data.DicomMetaDictionary.naturalizeDataset(dict.meta);
    expect(meta.TransferSyntaxUID).toBe('1.2.840.10008.1.2.1');
    expect(meta.MediaStorageSOPClassUID).toBe('1.2.840.10008.5.1.4.1.1.66.4');
    expect(ALGORITHM.task).toBe('liver');
  });
});
