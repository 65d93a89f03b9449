/**
 * Use case: index local images + masks for a task — a dataset folder, or NIfTI volumes sliced to 2-D first
 * (resumable) — with every problem reported per file and the rest kept; splits reproducible from the seed.
 * Writes the task's index.json and task.json (keeping what the coordinator knows of it). `site-agent ingest`
 * calls it.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  DatasetFormatError,
  type DatasetIndex,
  type DatasetProblem,
  importNiftiPairs,
  type NiftiPair,
  readDatasetFolder,
} from '@casam/casam-core';
import { type WindowChoice, readDicomFolder } from '@casam/dicom';
import { EXIT, UserError } from '../cli/errors';
import type { AgentHome } from '../home/agent-home';
import { type LocalTask, TaskStore } from '../tasks/local-task';
import { importDicomSeries } from './dicom-import';
import { EgressLog } from '../egress/egress-log';
import { formatPullProgress, pullFromPacs } from '../pacs/pull-from-pacs';
import { pacsUserError } from '../pacs/pacs-exit';
import { checkPacsAllowed } from '../pacs/pacs-allowlist';

/** Where the task's data is: a dataset folder, NIfTI image/label volume pairs, or a folder of DICOM files. */
export type IngestSource =
  | { kind: 'folder'; folder: string }
  | {
      kind: 'dicom';
      folder: string;
      /** How modality values become 8-bit: 'auto' (the tags' VOI window, else percentiles) or a preset. */
      window: WindowChoice;
    }
  | {
      kind: 'pacs';
      /** The PACS's DICOMweb root; what to pull: a study, a series or the series a QIDO query matches. */
      url: string;
      study?: string;
      series?: string;
      query?: Record<string, string>;
      auth?: string;
      timeoutMs: number;
      window: WindowChoice;
    }
  | {
      kind: 'nifti';
      pairs: NiftiPair[];
      /** The pairs as given (`image:labels`), recorded as the task's source. */
      given: string[];
      /** Label values to keep and their class names. */
      labelNames?: Record<number, string>;
      axis: 0 | 1 | 2;
    };

export interface IngestRequest {
  home: AgentHome;
  name: string;
  source: IngestSource;
  modality?: string;
  /** Split seed for data without a manifest. */
  seed: number;
  log: (l: string) => void;
}

export interface IngestedTask {
  index: DatasetIndex;
  counts: LocalTask['counts'];
}

export async function ingestTask(o: IngestRequest): Promise<IngestedTask> {
  const { home, name, source, seed, log } = o;
  const store = new TaskStore(home);
  let root: string;
  if (source.kind === 'nifti') {
    root = join(store.dir(name), 'nifti-slices');
    const res = await importNiftiPairs(source.pairs, root, {
      name,
      modality: o.modality ?? 'unknown',
      domain: name,
      seed,
      axis: source.axis,
      ...(source.labelNames
        ? { labelNames: source.labelNames, labels: Object.keys(source.labelNames).map(Number) }
        : {}),
      onProgress: (p) =>
        log(
          `  volume ${p.pair}/${p.pairs} ${p.caseId}: ${p.skipped ? 'already sliced' : `${p.slices} slices`}`,
        ),
      onProblem: (p) => log(`  problem: ${p.image}: ${p.message}`),
    });
    log(`sliced ${res.imported} volume(s), ${res.resumed} from an earlier run, ${res.failed} left out`);
  } else if (source.kind === 'pacs') {
    // Pulled into the task's folder (resumable: instances already there are not fetched again), then read as DICOM.
    const pulled = join(store.dir(name), 'pacs-pull');
    await pullTaskFromPacs(home, source, pulled, log);
    root = join(store.dir(name), 'dicom-slices');
    root = await ingestDicom(pulled, root, { name, modality: o.modality, seed, window: source.window, log });
  } else if (source.kind === 'dicom') {
    root = join(store.dir(name), 'dicom-slices');
    root = await ingestDicom(source.folder, root, {
      name,
      modality: o.modality,
      seed,
      window: source.window,
      log,
    });
  } else root = resolve(source.folder);

  let index: DatasetIndex;
  const seen: DatasetProblem[] = [];
  let lastPct = -1;
  try {
    index = await readDatasetFolder(root, {
      seed,
      name,
      modality: o.modality,
      domain: name,
      onProblem: (p) => {
        seen.push(p);
        log(`  problem [${p.kind}, ${p.effect}] ${p.message}`);
      },
      onProgress: (done, total) => {
        const pct = Math.floor((100 * done) / Math.max(1, total));
        if (pct >= lastPct + 10 || done === total) {
          lastPct = pct;
          log(`  checked ${done}/${total} items (${pct}%)`);
        }
      },
    });
  } catch (e) {
    if (e instanceof DatasetFormatError) {
      // A folder in another layout (DICOM, NIfTI, nnU-Net's imagesTr/labelsTr…) has no manifest: say what would do.
      const hint =
        existsSync(root) && !existsSync(join(root, 'manifest.json'))
          ? `; without a manifest.json ingest reads the plain layout ${root}/images/<name>.png|.jpg and ` +
            `${root}/masks/<class>/<name>.png (a mask per class, same file name as its image; docs/data-format.md), ` +
            `or NIfTI volumes with --nifti <image.nii.gz>:<labels.nii.gz>`
          : '';
      throw new UserError(`${e.message}${hint}`, EXIT.input);
    }
    throw e;
  }
  if (index.items.length === 0)
    throw new UserError(`${root}: no usable item (${seen.length} problem(s) above)`, EXIT.input);
  const count = (s: string) => index.items.filter((i) => i.split === s).length;
  const counts = {
    train: count('train'),
    val: count('val'),
    test: count('test'),
    problems: index.problems.length,
  };
  if (counts.train === 0 || counts.val === 0)
    throw new UserError(
      `${root}: need items in both train (${counts.train}) and val (${counts.val}) splits`,
      EXIT.input,
    );
  const previous = store.exists(name) ? store.read(name) : undefined;
  store.writeIndex(name, index);
  store.write({
    version: 1,
    name,
    modality: o.modality ?? index.modality ?? 'unknown',
    structures: index.classes.map((c) => c.name),
    source:
      source.kind === 'nifti'
        ? { kind: 'nifti', paths: source.given }
        : source.kind === 'pacs'
          ? { kind: 'pacs', paths: [source.url] }
          : { kind: source.kind, paths: [source.kind === 'dicom' ? resolve(source.folder) : root] },
    indexedAt: new Date().toISOString(),
    counts,
    ...(previous?.coordinator ? { coordinator: previous.coordinator } : {}),
  });
  return { index, counts };
}

/** Reads a DICOM folder (problems per file, logged) and writes its labelled slices as the task's dataset. */
async function ingestDicom(
  folder: string,
  outDir: string,
  o: { name: string; modality?: string; seed: number; window: WindowChoice; log: (l: string) => void },
): Promise<string> {
  if (!existsSync(folder)) throw new UserError(`${folder}: no such folder`, EXIT.input);
  const read = await readDicomFolder(resolve(folder), {
    window: o.window,
    onProgress: (done, total) => {
      if (done === total || done % 50 === 0) o.log(`  read ${done}/${total} DICOM file(s)`);
    },
  });
  for (const p of read.problems) o.log(`  problem [${p.code}] ${p.file}: ${p.message}`);
  o.log(
    `read ${read.series.length} series (${read.series.map((s) => `${s.modality} ${s.slices.length} slices`).join(', ')}), ` +
      `${read.problems.length} problem(s)`,
  );
  try {
    await importDicomSeries(read, outDir, { ...o, window: String(o.window) });
  } catch (e) {
    throw new UserError(`${folder}: ${(e as Error).message}`, EXIT.input);
  }
  return outDir;
}

/** Pulls the selected series from the PACS into `dest`, printing progress; PACS failures are one-line errors. */
async function pullTaskFromPacs(
  home: AgentHome,
  source: Extract<IngestSource, { kind: 'pacs' }>,
  dest: string,
  log: (l: string) => void,
): Promise<void> {
  let lastLine = 0;
  const egress = new EgressLog(home.egressLogFile);
  checkPacsAllowed(home.readConfig(), source.url, 'pacs_qido', egress);
  try {
    const r = await pullFromPacs({
      pacsUrl: source.url,
      ...(source.study ? { study: source.study } : {}),
      ...(source.series ? { series: source.series } : {}),
      ...(source.query ? { query: source.query } : {}),
      ...(source.auth ? { auth: source.auth } : {}),
      timeoutMs: source.timeoutMs,
      dest,
      log: egress,
      fallbackToAny: true,
      onProgress: (p) => {
        const now = Date.now();
        if (p.done === p.total || now - lastLine > 2000) {
          lastLine = now;
          log(`  pacs ${formatPullProgress(p)}`);
        }
      },
    });
    for (const p of r.problems)
      log(`  problem [pacs] series ${p.series}${p.instance ? ` instance ${p.instance}` : ''}: ${p.reason}`);
    log(
      `pulled ${r.series} series from the PACS: ${r.fetched} instance(s) fetched, ${r.skipped} already here, ` +
        `${(r.bytes / 1e6).toFixed(1)} MB, ${r.problems.length} problem(s)`,
    );
    if (r.instances === 0) throw new UserError('the PACS has no instance for that selection', EXIT.input);
  } catch (e) {
    throw pacsUserError(e) ?? e;
  }
}
