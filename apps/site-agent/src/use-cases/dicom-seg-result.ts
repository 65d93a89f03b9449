/**
 * Use case: a segmentation result as DICOM-SEG, for `segment --image x.dcm --seg-out` and `serve`
 * (application/dicom). The SEG names what made the mask — the routed task, its adapter version, the bundle and
 * the base model — so a radiologist's viewer shows it, and references the source instance so the PACS files it
 * with the study. A fallback to frozen SAM is named as such, never after the task that refused the image.
 */
import { type SegAlgorithm, type SegSourceFrame, writeDicomSeg } from '@casam/dicom';
import type { BundleBaseModel, BundleTask } from '@casam/protocol';
import { AGENT_VERSION } from '../version';
import type { SegmentDecisionJson } from './routing-decision';

/** Fallback results carry this task name: frozen SAM answered, no adapter. */
export const FROZEN_SAM_TASK = 'frozen SAM';

export interface DicomSegResultRequest {
  /** The source instance (or frame) the image was decoded from, at the mask's size. */
  source: SegSourceFrame;
  /** The mask at the image's size, row-major: rows × columns bytes, non-zero inside (0/1 or 0/255). */
  mask: Uint8Array;
  decision: Pick<SegmentDecisionJson, 'decision' | 'taskId' | 'bundleVersion'>;
  /** The tasks of the bundle that routed the image (its manifest's), to find the adapter version and classes. */
  tasks: readonly Pick<BundleTask, 'taskId' | 'name' | 'adapterVersion' | 'targetStructures'>[];
  baseModel: Pick<BundleBaseModel, 'preset' | 'fingerprint'>;
  softwareVersion?: string;
  now?: Date;
}

/** SEG bytes (Part 10) for one routed segmentation; throws SegInputError when the mask does not fit the source. */
export function dicomSegResult(r: DicomSegResultRequest): Uint8Array {
  const task =
    r.decision.decision === 'task' ? r.tasks.find((t) => t.taskId === r.decision.taskId) : undefined;
  if (r.decision.decision === 'task' && !task) {
    throw new Error(`routed to task ${String(r.decision.taskId)}, which the bundle's task list lacks`);
  }
  const algorithm: SegAlgorithm = {
    task: task?.name ?? FROZEN_SAM_TASK,
    ...(task ? { adapterVersion: task.adapterVersion } : {}),
    ...(r.decision.bundleVersion !== null ? { bundleVersion: r.decision.bundleVersion } : {}),
    baseModel: baseModelName(r.baseModel),
    softwareVersion: r.softwareVersion ?? AGENT_VERSION,
  };
  return writeDicomSeg({
    sources: [r.source],
    segments: [{ number: 1, label: segmentLabel(task) }],
    masks: () => r.mask,
    algorithm,
    ...(r.now ? { now: r.now } : {}),
  });
}

/** "casam-small@1a2b3c4d": the preset and the first 8 hex digits of the weights' sha256. */
export function baseModelName(base: Pick<BundleBaseModel, 'preset' | 'fingerprint'>): string {
  return `${base.preset}@${base.fingerprint.replace(/^sha256:/, '').slice(0, 8)}`;
}

/**
 * The task's class: its one target structure. A prompt picks one structure of a task with several, and which
 * one is not known here, so such a mask is labelled with the task's name; so is a frozen-SAM mask ("object").
 */
export function segmentLabel(task: Pick<BundleTask, 'name' | 'targetStructures'> | undefined): string {
  if (!task) return 'object';
  const [only, ...more] = task.targetStructures.filter((s) => s.trim() !== '');
  return only !== undefined && more.length === 0 ? only : task.name;
}
