/**
 * Use case: segment DICOM — one instance, or a series' slices — with the agent's base model routed by the
 * installed bundle, and the result as DICOM-SEG referencing the source frames. The prompt is a box and/or points
 * in pixel coordinates applied to every chosen slice (a box over a range of slices is how a 3-D region is drawn
 * in a 2-D model). Each slice is routed on its own; slices routed alike share one SEG segment, so the SEG names
 * for every mask the task, adapter version, bundle and base model that made it (frozen SAM for a fallback).
 * `segment --image x.dcm` / `--dicom <dir>` and `serve` (application/dicom) call it.
 */
import { type RgbImage, PromptError, grayToRgb } from '@casam/casam-core';
import {
  type DicomSeries,
  type SegSegment,
  type WindowChoice,
  readDicomFolder,
  segSourceFrames,
  writeDicomSeg,
} from '@casam/dicom';
import type { Box } from '../cli/args';
import { EXIT, UserError } from '../cli/errors';
import type { AgentHome } from '../home/agent-home';
import type { EngineChoice } from '../model/engine-factory';
import { openHomeSegmenter } from './segment-image';
import { AGENT_VERSION } from '../version';
import { baseModelName, FROZEN_SAM_TASK, segmentLabel } from './dicom-seg-result';
import { decisionJson, type SegmentDecisionJson } from './routing-decision';

export interface DicomSegmentRequest {
  /** A DICOM file, or a folder holding the series (any depth). */
  path: string;
  /** Which series, when the folder holds several. */
  seriesUid?: string;
  box?: Box;
  points: { xy: [number, number]; label: number }[];
  multimask: boolean;
  /** 1-based slice numbers in geometric order (inclusive); default every slice. */
  slices?: [number, number];
  window: WindowChoice;
  /** Checks the prompt against the slice size (a message when it does not fit), before the model loads. */
  promptCheck?: (width: number, height: number) => string | null | undefined;
}

export interface DicomSliceResult {
  /** 0-based index into the series' slices (geometric order). */
  index: number;
  /** 0/1 at the slice's size. */
  mask: Uint8Array;
  decision: SegmentDecisionJson;
}

export interface DicomSegmentation {
  series: DicomSeries;
  results: DicomSliceResult[];
  /** The DICOM-SEG (Part 10) of all results. */
  seg: Uint8Array;
}

/** Reads the series the request names; every problem is a clear input error. */
export async function readRequestedSeries(
  path: string,
  window: WindowChoice,
  seriesUid: string | undefined,
  log: (l: string) => void,
): Promise<DicomSeries> {
  let read;
  try {
    read = await readDicomFolder(path, { window });
  } catch (e) {
    throw new UserError(`cannot read ${path}: ${(e as Error).message}`, EXIT.input);
  }
  for (const p of read.problems) log(`  problem [${p.code}] ${p.file}: ${p.message}`);
  const images = read.series;
  const chosen = seriesUid ? images.filter((s) => s.seriesInstanceUid === seriesUid) : images;
  if (chosen.length === 0)
    throw new UserError(
      `${path}: ${seriesUid ? `no readable series ${seriesUid}` : 'no readable DICOM image'}` +
        (read.problems.length ? ` (${read.problems[0].message})` : ''),
      EXIT.input,
    );
  if (chosen.length > 1)
    throw new UserError(
      `${path} holds ${chosen.length} series; pick one with --series-uid (${chosen.map((s) => `${s.modality} ${s.slices.length} slices: ${s.seriesInstanceUid}`).join('; ')})`,
      EXIT.usage,
    );
  return chosen[0];
}

export async function segmentDicom(
  home: AgentHome,
  r: DicomSegmentRequest,
  log: (l: string) => void,
  engine?: EngineChoice,
): Promise<DicomSegmentation> {
  const series = await readRequestedSeries(r.path, r.window, r.seriesUid, log);
  const n = series.slices.length;
  const [from, to] = r.slices ?? [1, n];
  if (!(from >= 1 && to <= n && from <= to))
    throw new UserError(`--slices ${from}-${to} is outside the series' 1-${n}`, EXIT.usage);
  const problem = r.promptCheck?.(series.slices[0].width, series.slices[0].height);
  if (problem) throw new UserError(`${r.path}: ${problem}`, EXIT.input);
  const { base, bundle, segmenter: seg } = await openHomeSegmenter(home, log, engine);
  const results: DicomSliceResult[] = [];
  try {
    for (let i = from - 1; i < to; i++) {
      const s = series.slices[i];
      const image: RgbImage = { width: s.width, height: s.height, data: grayToRgb(s.gray8) };
      let p;
      try {
        p = await seg.segment(image, {
          box: r.box,
          points: r.points.length ? r.points.map((q) => q.xy) : undefined,
          labels: r.points.length ? r.points.map((q) => q.label) : undefined,
          multimask: r.multimask,
        });
      } catch (e) {
        if (e instanceof PromptError) throw new UserError(`slice ${i + 1}: ${e.message}`, EXIT.input);
        throw e;
      }
      const decision = decisionJson(p, bundle?.names ?? new Map(), bundle?.installed.version ?? null);
      results.push({ index: i, mask: p.binary[p.best], decision });
      if ((i - from + 2) % 10 === 0 || i === to - 1)
        log(`  segmented slice ${i + 1} (${i - from + 2}/${to - from + 1})`);
    }
  } finally {
    seg.dispose();
  }
  // One segment per routing outcome (a task, or frozen SAM), in first-seen order.
  const groupOf = (d: SegmentDecisionJson) => (d.decision === 'task' ? `task:${d.taskId}` : 'fallback');
  const groups = [...new Set(results.map((x) => groupOf(x.decision)))];
  const tasks = bundle?.manifest.tasks ?? [];
  const segments: SegSegment[] = groups.map((g, k) => {
    const task = g === 'fallback' ? undefined : tasks.find((t) => `task:${t.taskId}` === g);
    return {
      number: k + 1,
      label: segmentLabel(task),
      algorithm: {
        task: task?.name ?? FROZEN_SAM_TASK,
        ...(task ? { adapterVersion: task.adapterVersion } : {}),
        ...(bundle ? { bundleVersion: bundle.installed.version } : {}),
        baseModel: baseModelName({ preset: base.config.name, fingerprint: base.fingerprint }),
        softwareVersion: AGENT_VERSION,
      },
    };
  });
  const sources = segSourceFrames(series.stack);
  const byIndex = new Map(results.map((x) => [x.index, x]));
  const bytes = writeDicomSeg({
    sources,
    segments,
    masks: (segment, sourceIndex) => {
      const x = byIndex.get(sourceIndex);
      return x && groups.indexOf(groupOf(x.decision)) + 1 === segment ? x.mask : undefined;
    },
    algorithm: segments[0].algorithm!,
    seriesDescription: `CA-SAM segmentation (${segments.map((s) => s.label).join(', ')})`,
  });
  return { series, results, seg: bytes };
}
