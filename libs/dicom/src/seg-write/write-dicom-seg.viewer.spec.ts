// The SEG as a viewer loads it: dcmjs's Cornerstone SEG loader (the code OHIF's SEG support grew from) must
// find every frame's source image and paint each segment where the masks say. It reads the dataset in its
// own way (references through SourceImageSequence, orientation from the shared groups, its own unpacking),
// so this catches what a round-trip through our own reader could not.
import * as dcmjs from 'dcmjs';
import { describe, expect, it } from 'vitest';
import { ctSlices, patternMask, segInput } from './seg-input.testing';
import { writeDicomSeg } from './write-dicom-seg';

/** The slice of dcmjs's (untyped) adapter API this spec calls. */
interface CornerstoneSegmentation {
  generateToolState(
    imageIds: string[],
    buffer: ArrayBuffer,
    metadata: { get(type: string, imageId: string): unknown },
  ): {
    labelmapBufferArray: ArrayBuffer[];
    segMetadata: { data: ({ SegmentLabel?: string } | undefined)[] };
    segmentsOnFrame: (number[] | undefined)[];
  };
}
const { Segmentation } = (
  dcmjs as unknown as { adapters: { Cornerstone: { Segmentation: CornerstoneSegmentation } } }
).adapters.Cornerstone;

describe('writeDicomSeg output in the Cornerstone SEG loader', () => {
  it('puts each segment on its source image, pixel for pixel', () => {
    const sources = ctSlices(3);
    const bytes = writeDicomSeg(segInput(sources, ['2:1']));
    // The viewer's stack, in the order the sources were given; image ids are opaque to the loader.
    const imageIds = sources.map((s) => `test:${s.sopInstanceUid}`);
    const byId = new Map(sources.map((s, i) => [imageIds[i], s]));
    const metadata = {
      get(type: string, imageId: string): unknown {
        const s = byId.get(imageId);
        if (!s) return undefined;
        const iop = s.imageOrientationPatient ?? [];
        return {
          imagePlaneModule: {
            rowCosines: iop.slice(0, 3),
            columnCosines: iop.slice(3, 6),
            imagePositionPatient: s.imagePositionPatient,
            frameOfReferenceUID: s.frameOfReferenceUid,
            rows: s.rows,
            columns: s.columns,
          },
          imagePixelModule: { rows: s.rows, columns: s.columns },
          sopCommonModule: { sopInstanceUID: s.sopInstanceUid, sopClassUID: s.sopClassUid },
          generalSeriesModule: { seriesInstanceUID: s.seriesInstanceUid },
        }[type];
      },
    };
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const state = Segmentation.generateToolState(imageIds, buffer, metadata);

    expect(state.segMetadata.data.slice(1).map((segment) => segment?.SegmentLabel)).toEqual([
      'liver',
      'tumour',
    ]);
    // Segment 2's mask on source 1 is empty and was left out.
    expect(state.segmentsOnFrame.map((segments) => [...(segments ?? [])].sort())).toEqual([
      [1, 2],
      [1],
      [1, 2],
    ]);
    expect(state.labelmapBufferArray).toHaveLength(1); // the fixture's segments do not overlap
    const labelmap = new Uint16Array(state.labelmapBufferArray[0]);
    const pixels = 35;
    sources.forEach((_, i) => {
      const expected = Array.from({ length: pixels }, (_, p) =>
        i !== 1 && patternMask(pixels, 2, i)[p] ? 2 : patternMask(pixels, 1, i)[p] ? 1 : 0,
      );
      expect(Array.from(labelmap.subarray(i * pixels, (i + 1) * pixels))).toEqual(expected);
    });
  });
});
