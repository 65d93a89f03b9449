// The ready-made DICOM test study the e2e flow, the PACS harness and the demo load: one patient, one study,
// a CT series (classic single-frame files) and an MR series (one Enhanced multi-frame file), each with a
// DICOM-SEG of its ellipse, all in one folder tree as a PACS export would look.
import { join } from 'node:path';
import { seededRandom, seededUid } from './seeded-random';
import { type SyntheticSegFile, writeSegFor } from './synthetic-seg';
import { type SyntheticSeries, writeSyntheticSeries } from './synthetic-series';

export interface SyntheticStudyOptions {
  patientId: string;
  patientName: string;
  seed: number;
  /** Slices per series (default 8) and in-plane size (default 64×64). */
  slices?: number;
  rows?: number;
  cols?: number;
  /** The class name of the ellipse in both SEGs (default 'lesion'). */
  label?: string;
}

export interface SyntheticStudy {
  dir: string;
  studyInstanceUid: string;
  ct: SyntheticSeries;
  mr: SyntheticSeries;
  ctSeg: SyntheticSegFile;
  mrSeg: SyntheticSegFile;
  /** Every file written (images and SEGs), e.g. to upload to a PACS. */
  files: string[];
}

/** Writes the study under `dir` (ct/, mr/; SEGs beside their series). Same seed → same files and UIDs. */
export async function writeSyntheticStudy(
  dir: string,
  options: SyntheticStudyOptions,
): Promise<SyntheticStudy> {
  const studyInstanceUid = seededUid(seededRandom(options.seed * 7919 + 1));
  const common = {
    patientId: options.patientId,
    patientName: options.patientName,
    studyInstanceUid,
    slices: options.slices ?? 8,
    rows: options.rows ?? 64,
    cols: options.cols ?? 64,
  };
  const label = options.label ?? 'lesion';
  const ct = await writeSyntheticSeries(join(dir, 'ct'), { ...common, modality: 'CT', seed: options.seed });
  const mr = await writeSyntheticSeries(join(dir, 'mr'), {
    ...common,
    modality: 'MR',
    multiFrame: true,
    seed: options.seed + 1,
  });
  const ctSeg = await writeSegFor(ct, [{ label, masks: ct.objectMasks }]);
  const mrSeg = await writeSegFor(mr, [{ label, masks: mr.objectMasks }]);
  return {
    dir,
    studyInstanceUid,
    ct,
    mr,
    ctSeg,
    mrSeg,
    files: [...ct.files, ctSeg.file, ...mr.files, mrSeg.file],
  };
}
