/**
 * `serve`'s DICOM side. A POSTed Part 10 instance (Content-Type application/dicom) becomes the image a PNG
 * request would give the model — one frame, windowed exactly as `segment --image x.dcm` renders the file (the
 * library's renderInstanceFrame) — and, with `Accept: application/dicom`, the routed result is answered as a
 * DICOM-SEG that references that frame, carrying the source's patient/study identity so the same PACS files it
 * with the study. Every DicomProblem is a 4xx with the problem's code; nothing about a bad file is a 500.
 */
import { type RgbImage, grayToRgb } from '@casam/casam-core';
import {
  type SegSourceFrame,
  type WindowChoice,
  DicomProblem,
  WINDOW_PRESETS,
  isWindowPreset,
  readDicomInstance,
  renderInstanceFrame,
  segSourceFrame,
} from '@casam/dicom';
import { HttpError } from './http-error';

export const DICOM_MEDIA_TYPE = 'application/dicom';

/** Query parameters a DICOM request may add to the prompt's. */
export const DICOM_QUERY_PARAMETERS = ['frame', 'window'] as const;

export interface DicomQuery {
  /** 1-based DICOM frame number; required for a multi-frame instance. */
  frame?: number;
  window: WindowChoice;
}

export interface DicomImage {
  image: RgbImage;
  /** The frame the image came from, as the SEG references it. */
  source: SegSourceFrame;
}

/** `frame` and `window` of the query; anything malformed is a 400 naming the accepted values. */
export function parseDicomQuery(q: URLSearchParams): DicomQuery {
  const frame = q.get('frame');
  const window = q.get('window') ?? 'auto';
  if (frame !== null && !/^[1-9][0-9]{0,8}$/.test(frame))
    throw new HttpError(400, 'bad_frame', 'frame must be a 1-based frame number (frame=1, 2, …)');
  if (window !== 'auto' && !isWindowPreset(window))
    throw new HttpError(400, 'bad_window', `window must be auto or a preset (${presetNames()})`);
  return { ...(frame !== null ? { frame: Number(frame) } : {}), window };
}

/**
 * The request body as the model's image: one frame of one instance. The header's claimed size is checked before
 * anything is decoded: rows × columns against `maxPixels` (as `serve.maxImagePixels` bounds a PNG), and all
 * frames together against `maxRequestBytes` values, so a compressed instance cannot decode to more than an
 * uncompressed 8-bit one the request limit admits.
 */
export async function decodeDicomRequest(
  body: Uint8Array,
  q: DicomQuery,
  limits: { maxPixels: number; maxRequestBytes: number },
): Promise<DicomImage> {
  try {
    const instance = await readDicomInstance(body, 'request body', {
      maxPixels: limits.maxPixels,
      maxFramePixelsTotal: Math.max(limits.maxPixels, limits.maxRequestBytes),
    });
    const frames = instance.numberOfFrames;
    if (q.frame === undefined && frames > 1)
      throw new HttpError(
        400,
        'bad_frame',
        `the instance has ${frames} frames; choose one with frame=1..${frames}`,
      );
    const frameIndex = (q.frame ?? 1) - 1;
    if (frameIndex >= frames)
      throw new HttpError(400, 'bad_frame', `frame ${q.frame} is beyond the instance's ${frames} frame(s)`);
    const rendered = renderInstanceFrame(instance, frameIndex, q.window);
    return {
      image: { width: rendered.width, height: rendered.height, data: grayToRgb(rendered.gray8) },
      source: segSourceFrame(instance, frameIndex),
    };
  } catch (e) {
    if (e instanceof HttpError) throw e;
    // A DicomProblem says what is wrong with the file in words an IT team can act on, under its stable code.
    if (e instanceof DicomProblem) throw new HttpError(problemStatus(e.code), e.code, e.message);
    // A parser failure outside the library's checks (a malformed file dcmjs trips over) is still the file's fault.
    throw new HttpError(
      400,
      'unreadable-file',
      `request body: could not be read as DICOM (${(e as Error).message})`,
    );
  }
}

function problemStatus(code: DicomProblem['code']): number {
  if (code === 'unsupported-transfer-syntax') return 415;
  if (code === 'too-large') return 413;
  return 400;
}

function presetNames(): string {
  return Object.keys(WINDOW_PRESETS).join(', ');
}
