// Modality values → the 8-bit image the model sees: the linear VOI LUT of DICOM PS3.3 C.11.2.1.2.1, with the
// window taken from the file's tags, a named clinical preset, or the series' own 1st–99th percentiles.
// Pure functions; the folder reader picks the window once per series so all its slices share it.
import type { DicomWindow } from './dicom-instance';

/** Standard radiology windows (width/level), plus MR's data-driven one (MR has no absolute units). */
export const WINDOW_PRESETS = {
  'ct-abdomen': { center: 40, width: 400 },
  'ct-lung': { center: -600, width: 1500 },
  'ct-bone': { center: 400, width: 1800 },
  'ct-brain': { center: 40, width: 80 },
  'mr-auto': 'percentiles',
} as const;

export type WindowPreset = keyof typeof WINDOW_PRESETS;
/** A preset, 'auto' (the tags' window if present, else percentiles), or an explicit window. */
export type WindowChoice = WindowPreset | 'auto' | DicomWindow;

export function isWindowPreset(name: string): name is WindowPreset {
  return Object.prototype.hasOwnProperty.call(WINDOW_PRESETS, name);
}

/**
 * The linear VOI LUT to 0..255: below c − 0.5 − (w−1)/2 → 0, above c − 0.5 + (w−1)/2 → 255, in between
 * ((x − (c − 0.5)) / (w − 1) + 0.5) · 255, rounded. `invert` is for MONOCHROME1 (low values shown bright).
 */
export function toGray8(
  values: Float32Array,
  window: DicomWindow,
  options: { invert?: boolean } = {},
): Uint8Array {
  const width = Math.max(1, window.width);
  const c = window.center - 0.5;
  const low = c - (width - 1) / 2;
  const high = c + (width - 1) / 2;
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    const y = x <= low ? 0 : x > high ? 255 : Math.round(((x - c) / (width - 1) + 0.5) * 255);
    out[i] = options.invert ? 255 - y : y;
  }
  return out;
}

/**
 * A window spanning the `low`–`high` percentiles of all frames' values. Large series are subsampled with a
 * fixed stride (at most ~1M values), which moves a percentile by far less than one grey level.
 */
export function percentileWindow(frames: Float32Array[], low = 1, high = 99): DicomWindow {
  const total = frames.reduce((n, f) => n + f.length, 0);
  const stride = Math.max(1, Math.ceil(total / 1_000_000));
  const sample = new Float32Array(Math.ceil(total / stride));
  let n = 0;
  let at = 0;
  for (const frame of frames) {
    for (; at < frame.length; at += stride) sample[n++] = frame[at];
    at -= frame.length;
  }
  const sorted = sample.subarray(0, n).sort();
  if (n === 0) return { center: 0, width: 1 };
  const pick = (p: number) => sorted[Math.round((p / 100) * (n - 1))];
  const [lo, hi] = [pick(low), pick(high)];
  return { center: (lo + hi) / 2, width: Math.max(1, hi - lo) };
}

/**
 * The window a series is rendered with. `tagWindow` is the first frame's window from the file, if any;
 * `frames` is only called when percentiles are needed (it may decode the whole series).
 */
export function resolveWindow(
  choice: WindowChoice,
  tagWindow: DicomWindow | undefined,
  frames: () => Float32Array[],
): DicomWindow {
  if (typeof choice === 'object') return choice;
  if (choice === 'auto') return tagWindow ?? percentileWindow(frames());
  const preset = WINDOW_PRESETS[choice];
  return preset === 'percentiles' ? percentileWindow(frames()) : preset;
}
