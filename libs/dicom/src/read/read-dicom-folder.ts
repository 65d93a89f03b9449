// The site agent's one entry for DICOM on disk: a folder (any depth) → series of 8-bit slices in anatomical
// order, with masks from DICOM-SEG / RTSTRUCT files attached by reference, and a per-file problem list.
// Nothing here throws for a bad file; identity stays in `identity` for the agent to keep on site.
import { readFile } from 'node:fs/promises';
import { readRtstructMasks } from '../masks/read-rtstruct-masks';
import { readSegMasks } from '../masks/read-seg-masks';
import type { MaskSet } from '../masks/mask-set';
import { type SliceStack, assembleSeries } from './assemble-series';
import { item, str } from './dataset-fields';
import type { DicomIdentity, DicomInstance, DicomWindow } from './dicom-instance';
import { type DicomProblemInfo, toProblemInfo } from './dicom-problem';
import { type ParsedDicom, parsePart10 } from './parse-part10';
import { imageFromParsed } from './read-dicom-instance';
import type { DicomSizeLimits } from './size-limits';
import { RT_STRUCTURE_SET_STORAGE, SEGMENTATION_STORAGE } from './sop-classes';
import { type WindowChoice, resolveWindow, toGray8 } from './voi-window';
import { walkFiles } from './walk-files';

export interface ReadDicomFolderOptions {
  /** How modality values become 8-bit: a preset, 'auto' (default: the tags' window, else percentiles). */
  window?: WindowChoice;
  /** Called after each file is read (for progress lines on large exports). */
  onProgress?: (done: number, total: number) => void;
  /** Size limits per frame and per instance (a file past them is a 'too-large' problem); library defaults. */
  limits?: DicomSizeLimits;
}

export interface DicomSlice {
  sopInstanceUid: string;
  /** 1-based frame number within the instance. */
  frame: number;
  gray8: Uint8Array;
  width: number;
  height: number;
  /** Class name → 0/1 mask, when a SEG or RTSTRUCT in the folder covers this slice. */
  masks?: Record<string, Uint8Array>;
}

export interface DicomSeries {
  seriesInstanceUid: string;
  studyInstanceUid: string;
  modality: string;
  /** The window every slice of the series was rendered with. */
  window: DicomWindow;
  /** Class names over all mask files attached to this series, in first-seen order. */
  classNames: string[];
  slices: DicomSlice[];
  /** Patient/study identifiers: keep on site; never copy into anything that leaves the hospital. */
  identity: DicomIdentity;
  /** The ordered instances behind `slices` (same order): what a DICOM-SEG of a result references. */
  stack: SliceStack;
}

export interface DicomFolder {
  series: DicomSeries[];
  problems: DicomProblemInfo[];
}

/** Reads every DICOM file under `dir`; bad files become problems, the rest is used. */
export async function readDicomFolder(
  dir: string,
  options: ReadDicomFolderOptions = {},
): Promise<DicomFolder> {
  const problems: DicomProblemInfo[] = [];
  const images: DicomInstance[] = [];
  const maskFiles: ParsedDicom[] = [];
  const files = await walkFiles(dir);
  for (const [n, file] of files.entries()) {
    if (n > 0) options.onProgress?.(n, files.length);
    try {
      const parsed = await parsePart10(new Uint8Array(await readFile(file)), file, options.limits);
      if (parsed.sopClassUid === '1.2.840.10008.1.3.10') continue; // a DICOMDIR under another name
      if (parsed.sopClassUid === SEGMENTATION_STORAGE || parsed.sopClassUid === RT_STRUCTURE_SET_STORAGE) {
        maskFiles.push(parsed);
      } else {
        images.push(imageFromParsed(parsed, options.limits));
      }
    } catch (error) {
      problems.push(toProblemInfo(error, file));
    }
  }
  options.onProgress?.(files.length, files.length);
  const assembled = assembleSeries(images);
  problems.push(...assembled.problems);
  const masksBySeries = new Map<string, MaskSet[]>();
  for (const parsed of maskFiles) {
    const series = targetSeries(parsed, assembled.series);
    if (!series) {
      problems.push({
        file: parsed.source,
        code: 'unknown-reference',
        message: `${parsed.source}: the masks reference series ${referencedSeriesUid(parsed) ?? '(none given)'}, which is not among the readable series of ${dir}`,
      });
      continue;
    }
    try {
      const set =
        parsed.sopClassUid === SEGMENTATION_STORAGE
          ? readSegMasks(parsed, series)
          : readRtstructMasks(parsed, series);
      problems.push(...set.problems);
      masksBySeries.set(series.seriesInstanceUid, [
        ...(masksBySeries.get(series.seriesInstanceUid) ?? []),
        set,
      ]);
    } catch (error) {
      problems.push(toProblemInfo(error, parsed.source));
    }
  }
  const series = assembled.series.map((s) =>
    render(s, masksBySeries.get(s.seriesInstanceUid) ?? [], options),
  );
  return { series, problems };
}

function render(series: SliceStack, maskSets: MaskSet[], options: ReadDicomFolderOptions): DicomSeries {
  const first = series.slices[0];
  const window = resolveWindow(options.window ?? 'auto', first.instance.frames[first.frameIndex].window, () =>
    sampledFrames(series),
  );
  const classNames = [...new Set(maskSets.flatMap((m) => m.classNames))];
  const masksAt = new Map<number, Record<string, Uint8Array>>();
  for (const frame of maskSets.flatMap((m) => m.frames)) {
    const masks = masksAt.get(frame.sliceIndex) ?? {};
    for (const [name, mask] of Object.entries(frame.masks)) {
      // The same class from two mask files (a SEG and an RTSTRUCT) is their union.
      masks[name] = masks[name] ? masks[name].map((v, i) => v | mask[i]) : mask;
    }
    masksAt.set(frame.sliceIndex, masks);
  }
  return {
    seriesInstanceUid: series.seriesInstanceUid,
    studyInstanceUid: series.studyInstanceUid,
    modality: series.modality,
    window,
    classNames,
    identity: series.identity,
    stack: series,
    slices: series.slices.map((slice, i) => ({
      sopInstanceUid: slice.sopInstanceUid,
      frame: slice.frameNumber,
      gray8: toGray8(slice.instance.readFrame(slice.frameIndex), window, {
        invert: slice.instance.photometricInterpretation === 'MONOCHROME1',
      }),
      width: series.columns,
      height: series.rows,
      ...(masksAt.has(i) ? { masks: masksAt.get(i) } : {}),
    })),
  };
}

/** Every frame, subsampled to ~1M values in all, for percentile windows without holding the series twice. */
function sampledFrames(series: SliceStack): Float32Array[] {
  const stride = Math.max(1, Math.ceil((series.slices.length * series.rows * series.columns) / 1_000_000));
  return series.slices.map((s) => {
    const frame = s.instance.readFrame(s.frameIndex);
    if (stride === 1) return frame;
    const sample = new Float32Array(Math.ceil(frame.length / stride));
    for (let i = 0, j = 0; i < frame.length; i += stride, j++) sample[j] = frame[i];
    return sample;
  });
}

/** The series a SEG (ReferencedSeriesSequence) or RTSTRUCT (RT referenced series) belongs to. */
function referencedSeriesUid(parsed: ParsedDicom): string | undefined {
  const ds = parsed.dataset;
  if (parsed.sopClassUid === SEGMENTATION_STORAGE)
    return str(item(ds, 'ReferencedSeriesSequence'), 'SeriesInstanceUID');
  const study = item(item(ds, 'ReferencedFrameOfReferenceSequence'), 'RTReferencedStudySequence');
  return str(item(study, 'RTReferencedSeriesSequence'), 'SeriesInstanceUID');
}

/** By referenced series UID; failing that, the only series sharing the mask file's frame of reference. */
function targetSeries(parsed: ParsedDicom, all: SliceStack[]): SliceStack | undefined {
  const uid = referencedSeriesUid(parsed);
  const byUid = all.find((s) => s.seriesInstanceUid === uid);
  if (byUid || uid) return byUid;
  const frameOfReference =
    str(parsed.dataset, 'FrameOfReferenceUID') ??
    str(item(parsed.dataset, 'ReferencedFrameOfReferenceSequence'), 'FrameOfReferenceUID');
  const sameFrame = all.filter((s) => frameOfReference && s.frameOfReferenceUid === frameOfReference);
  return sameFrame.length === 1 ? sameFrame[0] : undefined;
}
