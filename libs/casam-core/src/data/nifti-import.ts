/**
 * NIfTI image/label pairs → the dataset folder format: one item per slice that has foreground, masks per
 * label value, splits per case (all slices of a patient land in the same split, or validation would see
 * neighbours of training slices). Resumable: a pair already imported with the same settings is not re-read.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import {
  DEFAULT_SPLITS,
  DatasetClass,
  DatasetManifest,
  DatasetOptionsError,
  SplitFractions,
  assignSplit,
  isSafeName,
  validateSplitFractions,
} from './dataset-format';
import { idFromFileName } from './dataset-reader';
import { DatasetFolderWriter } from './dataset-writer';
import { NiftiError, SliceOptions, readNifti, sliceVolume } from './nifti';
import { grayToRgb } from '../image/image-io';

export interface NiftiPair {
  image: string;
  labels: string;
  /** Case id (default: the image file name without .nii/.nii.gz). */
  id?: string;
}

export interface ImportNiftiOptions extends Omit<SliceOptions, 'keepEmpty'> {
  name?: string;
  modality?: string;
  domain?: string;
  /** Class names by label value (default 'label<N>'). */
  labelNames?: Readonly<Record<number, string>>;
  seed?: number;
  splits?: SplitFractions;
  onProgress?: (p: { pair: number; pairs: number; caseId: string; slices: number; skipped: boolean }) => void;
  /** A pair that cannot be read is reported here and left out; the others are still imported. */
  onProblem?: (p: { image: string; labels: string; message: string }) => void;
}

export interface ImportNiftiResult {
  manifest: DatasetManifest;
  /** Pairs read and written this run / found complete from an earlier run / left out with a problem. */
  imported: number;
  resumed: number;
  failed: number;
}

export function caseIdFromPath(p: string): string {
  return idFromFileName(basename(p).replace(/\.nii(\.gz)?$/i, ''));
}

async function fingerprint(p: string): Promise<string> {
  const s = await stat(p);
  return `${s.size}:${Math.round(s.mtimeMs)}`;
}

export async function importNiftiPairs(
  pairs: readonly NiftiPair[],
  outDir: string,
  opts: ImportNiftiOptions = {},
): Promise<ImportNiftiResult> {
  const seed = opts.seed ?? 0;
  const splits = validateSplitFractions(opts.splits ?? DEFAULT_SPLITS);
  const labelNames = opts.labelNames ?? {};
  for (const [v, n] of Object.entries(labelNames))
    if (!isSafeName(n))
      throw new DatasetOptionsError(
        `label name '${n}' (value ${v}) must be letters, digits, '.', '-' or '_'`,
      );
  const axis = opts.axis ?? 2;
  const key = `nifti:axis=${axis}:window=${JSON.stringify(opts.window ?? 'auto')}:min=${opts.minForeground ?? 1}:labels=${JSON.stringify(opts.labels ?? null)}:names=${JSON.stringify(labelNames)}:seed=${seed}:splits=${splits.train}/${splits.val}/${splits.test}`;
  const w = await DatasetFolderWriter.open(outDir, key);
  const axisLetter = 'ijk'[axis];
  const ids: string[] = [];
  const seenCases = new Set<string>();
  let imported = 0;
  let resumed = 0;
  let failed = 0;
  const fail = (pair: NiftiPair, message: string) => {
    failed++;
    if (opts.onProblem) opts.onProblem({ image: pair.image, labels: pair.labels, message });
  };
  for (let n = 0; n < pairs.length; n++) {
    const pair = pairs[n];
    const caseId = pair.id !== undefined ? idFromFileName(pair.id) : caseIdFromPath(pair.image);
    if (!isSafeName(caseId) || seenCases.has(caseId)) {
      fail(
        pair,
        !isSafeName(caseId)
          ? `no usable case id from '${pair.id ?? pair.image}'`
          : `case id '${caseId}' is used twice`,
      );
      continue;
    }
    seenCases.add(caseId);
    let source: string;
    try {
      source = `${caseId}|${await fingerprint(pair.image)}|${await fingerprint(pair.labels)}`;
    } catch (e) {
      fail(pair, (e as Error).message);
      continue;
    }
    const done = w.sourceItems(source);
    if (done) {
      ids.push(...done);
      resumed++;
      opts.onProgress?.({ pair: n + 1, pairs: pairs.length, caseId, slices: done.length, skipped: true });
      continue;
    }
    let caseIds: string[];
    try {
      const img = readNifti(new Uint8Array(await readFile(pair.image)), pair.image);
      const lbl = readNifti(new Uint8Array(await readFile(pair.labels)), pair.labels);
      const sliced = sliceVolume(img, lbl, { ...opts, axis, keepEmpty: false });
      const split = assignSplit(caseId, seed, splits);
      caseIds = [];
      for (const s of sliced.slices) {
        // Class ids are positive; a negative label value has no place in the format.
        const masks = s.masks.filter((m) => m.label > 0);
        if (masks.length === 0) continue;
        const id = `${caseId}_${axisLetter}${String(s.index).padStart(3, '0')}`;
        const rgb = grayToRgb(s.image);
        await w.writeItem({
          id,
          split,
          image: { width: s.width, height: s.height, data: rgb },
          masks: masks.map((m) => ({
            classId: m.label,
            className: labelNames[m.label] ?? `label${m.label}`,
            data: m.data,
          })),
        });
        caseIds.push(id);
      }
    } catch (e) {
      if (e instanceof DatasetOptionsError) throw e;
      fail(pair, (e as Error).message);
      continue;
    }
    await w.markSource(source, caseIds);
    ids.push(...caseIds);
    imported++;
    opts.onProgress?.({ pair: n + 1, pairs: pairs.length, caseId, slices: caseIds.length, skipped: false });
  }
  const classIds = new Set<number>();
  for (const id of ids) for (const m of w.entryOf(id)?.masks ?? []) classIds.add(m.classId);
  const classes: DatasetClass[] = [...classIds]
    .sort((a, b) => a - b)
    .map((id) => ({ id, name: labelNames[id] ?? `label${id}` }));
  if (ids.length === 0)
    throw new NiftiError(
      `no slice with foreground was imported from ${pairs.length} pair(s); see the problems reported`,
    );
  const root = resolve(outDir);
  const manifest = await w.finish(
    {
      name: opts.name ?? basename(root),
      modality: opts.modality ?? 'unknown',
      domain: opts.domain ?? basename(root),
      seed,
      classes,
    },
    ids,
  );
  return { manifest, imported, resumed, failed };
}
