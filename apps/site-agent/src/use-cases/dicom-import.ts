/**
 * DICOM series (read by @casam/dicom) → the task's dataset folder: one item per slice that has a mask, masks
 * per class, resumable like the NIfTI import. What identifies a patient stays out of the folder: item ids and
 * file names are hashes of the series UID, and the map back to SOP instances (`dicom-sources.json`, needed to
 * write DICOM-SEG that references the source images) is kept beside it in the agent home, never uploaded.
 *
 * Splits: with three or more patients every patient lands in one split (validation must not see neighbours of
 * training slices); with fewer, each series is cut in contiguous blocks (train, then val, then test), which is
 * the best a single volume allows, and the log says so.
 */
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import {
  DEFAULT_SPLITS,
  DatasetFolderWriter,
  type DatasetClass,
  type DatasetManifest,
  type DatasetSplit,
  assignSplit,
  grayToRgb,
  writeFileAtomic,
} from '@casam/casam-core';
import type { DicomFolder, DicomSeries } from '@casam/dicom';

/** Where an item came from, by DICOM reference: kept on site for DICOM-SEG output. */
export interface DicomItemSource {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  /** 1-based frame of a multi-frame instance. */
  frame?: number;
}

export interface DicomImportResult {
  manifest: DatasetManifest;
  series: number;
  slices: number;
  /** How the splits were drawn. */
  splitBy: 'patient' | 'slice-blocks';
}

export const DICOM_SOURCES_FILE = 'dicom-sources.json';

const shortHash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 10);

/** The split of slice `i` of `n` in contiguous blocks: the first 70% train, the next 15% val, the rest test. */
export function blockSplit(i: number, n: number): DatasetSplit {
  const u = (i + 0.5) / n;
  if (u < DEFAULT_SPLITS.train) return 'train';
  return u < DEFAULT_SPLITS.train + DEFAULT_SPLITS.val ? 'val' : 'test';
}

const patientKey = (s: DicomSeries) =>
  s.identity.patientId || s.identity.patientName || s.studyInstanceUid || s.seriesInstanceUid;

export async function importDicomSeries(
  folder: DicomFolder,
  outDir: string,
  o: {
    name: string;
    modality?: string;
    seed: number;
    /** A resume key part: what decided the 8-bit images (the window). */
    window: string;
    log: (l: string) => void;
  },
): Promise<DicomImportResult> {
  const series = folder.series.filter((s) => s.slices.some((sl) => sl.masks && Object.keys(sl.masks).length));
  if (series.length === 0)
    throw new Error(
      `no series with masks: a DICOM-SEG or RTSTRUCT must reference the images (${folder.series.length} series without)`,
    );
  const patients = new Set(series.map(patientKey));
  const splitBy = patients.size >= 3 ? 'patient' : 'slice-blocks';
  if (splitBy === 'slice-blocks')
    o.log(
      `  only ${patients.size} patient(s): each series is split in contiguous slice blocks (train/val/test); ` +
        'add patients for a split by patient',
    );
  const classNames = [
    ...new Set(series.flatMap((s) => s.slices.flatMap((sl) => Object.keys(sl.masks ?? {})))),
  ];
  classNames.sort();
  const classes: DatasetClass[] = classNames.map((name, i) => ({ id: i + 1, name }));
  const classId = new Map(classes.map((c) => [c.name, c.id]));
  const w = await DatasetFolderWriter.open(
    outDir,
    `dicom:window=${o.window}:seed=${o.seed}:split=${splitBy}:classes=${classNames.join(',')}`,
  );
  const ids: string[] = [];
  const sources: Record<string, DicomItemSource> = {};
  for (let n = 0; n < series.length; n++) {
    const s = series[n];
    const key = `${shortHash(s.seriesInstanceUid)}|${s.slices.length}`;
    const labelled = s.slices.filter(
      (sl) => sl.masks && Object.values(sl.masks).some((m) => m.some((v) => v)),
    );
    const itemId = (k: number) => `s${shortHash(s.seriesInstanceUid)}_${String(k).padStart(4, '0')}`;
    labelled.forEach((sl, k) => {
      sources[itemId(k)] = {
        studyInstanceUid: s.studyInstanceUid,
        seriesInstanceUid: s.seriesInstanceUid,
        sopInstanceUid: sl.sopInstanceUid,
        ...(sl.frame !== undefined ? { frame: sl.frame } : {}),
      };
    });
    const done = w.sourceItems(key);
    if (done) {
      ids.push(...done);
      o.log(`  series ${n + 1}/${series.length}: ${done.length} slices already imported`);
      continue;
    }
    const patientSplit = assignSplit(shortHash(patientKey(s)), o.seed);
    const written: string[] = [];
    for (let k = 0; k < labelled.length; k++) {
      const sl = labelled[k];
      const rgb = grayToRgb(sl.gray8);
      const id = itemId(k);
      await w.writeItem({
        id,
        split: splitBy === 'patient' ? patientSplit : blockSplit(k, labelled.length),
        image: { width: sl.width, height: sl.height, data: rgb },
        masks: Object.entries(sl.masks ?? {})
          .filter(([, m]) => m.some((v) => v))
          .map(([className, data]) => ({ classId: classId.get(className)!, className, data })),
      });
      written.push(id);
    }
    await w.markSource(key, written);
    ids.push(...written);
    o.log(`  series ${n + 1}/${series.length} (${s.modality}): ${written.length} labelled slice(s)`);
  }
  const root = resolve(outDir);
  writeFileAtomic(join(root, DICOM_SOURCES_FILE), JSON.stringify(sources, null, 1));
  const manifest = await w.finish(
    { name: o.name, modality: o.modality ?? series[0].modality, domain: o.name, seed: o.seed, classes },
    ids,
  );
  return { manifest, series: series.length, slices: ids.length, splitBy };
}
