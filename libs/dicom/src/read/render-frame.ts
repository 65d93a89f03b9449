// One frame of one instance as an 8-bit image, rendered exactly as readDicomFolder renders it when the folder
// holds only that file: the window of the first frame in geometric order from the tags (or a preset), else the
// 1st–99th percentiles of all the instance's frames; MONOCHROME1 inverted. For callers that get one instance
// as bytes (the site agent's `serve`), so an instance posted over HTTP and the same file segmented from disk
// see the same pixels.
import { assembleSeries } from './assemble-series';
import type { DicomInstance, DicomWindow } from './dicom-instance';
import { type WindowChoice, resolveWindow, toGray8 } from './voi-window';

export interface RenderedFrame {
  gray8: Uint8Array;
  width: number;
  height: number;
  /** The window the frame was rendered with. */
  window: DicomWindow;
}

/** Frame `frameIndex` (0-based, the DICOM frame number − 1) of `instance`, in 8 bits. */
export function renderInstanceFrame(
  instance: DicomInstance,
  frameIndex: number,
  choice: WindowChoice = 'auto',
): RenderedFrame {
  if (!(Number.isInteger(frameIndex) && frameIndex >= 0 && frameIndex < instance.numberOfFrames)) {
    throw new RangeError(
      `frame ${frameIndex + 1} is outside the ${instance.numberOfFrames} frame(s) of ${instance.source}`,
    );
  }
  // The folder reader takes the tag window of the series' first slice in geometric order; an instance whose
  // frames do not form one stack is not a series there, and here falls back to its first frame.
  const stack = assembleSeries([instance]).series[0];
  const first = stack?.slices[0]?.frameIndex ?? 0;
  const window = resolveWindow(choice, instance.frames[first].window, () =>
    instance.frames.map((_, i) => instance.readFrame(i)),
  );
  return {
    gray8: toGray8(instance.readFrame(frameIndex), window, {
      invert: instance.photometricInterpretation === 'MONOCHROME1',
    }),
    width: instance.columns,
    height: instance.rows,
    window,
  };
}
