import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@casam/casam-core';
import type { EgressLog } from '../egress/egress-log';
import { type DicomJson, dicomJsonString, TAG } from './dicom-json';
import { DicomwebClient, type DicomwebClientOptions } from './dicomweb-client';
import { PacsError, statusReason } from './pacs-error';
import { pacsLogTarget, uidFileName, uidPseudonym } from './pacs-log-target';

export interface PullOptions {
  /** The PACS DICOMweb root. */
  pacsUrl: string;
  /**
   * What to pull: a study (all its series), a series (and the study's SEG and RTSTRUCT series that reference it:
   * its masks), or the series matching a QIDO query (with a study: in it).
   */
  study?: string;
  series?: string;
  /** With `series`: also pull the SEG and RTSTRUCT series of its study that reference it (default true). */
  withMasks?: boolean;
  query?: Record<string, string>;
  /** Instances land in `dest/<series pseudonym>/<instance pseudonym>.dcm`. */
  dest: string;
  /** Authorization header value (pacs-auth.ts). */
  auth?: string;
  log: EgressLog;
  timeoutMs?: number;
  transferSyntax?: string;
  fallbackToAny?: boolean;
  /** Instances asked for per QIDO-RS page when listing a series (default 1000). */
  pageSize?: number;
  /** Called before the first and after every instance; a returned promise is awaited. */
  onProgress?: (p: PullProgress) => void | Promise<void>;
  fetchImpl?: typeof fetch;
  /** Where HTTP(S)_PROXY and NO_PROXY are read (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface PullProgress {
  seriesIndex: number;
  seriesCount: number;
  /** Instances of this series present on disk so far (fetched now or before). */
  done: number;
  total: number;
  /** Bytes of all instances present so far, every series. */
  bytes: number;
}

/** A problem with one instance or series, named by pseudonym (the same as its file or folder name). */
export interface PullProblem {
  series: string;
  instance?: string;
  reason: string;
}

export interface PullResult {
  series: number;
  instances: number;
  fetched: number;
  /** Already present and complete from an earlier pull. */
  skipped: number;
  bytes: number;
  /** The series folders, in pull order. */
  seriesDirs: string[];
  problems: PullProblem[];
}

/** Failures that end a pull: every further request would fail the same way. */
const FATAL = new Set<unknown>([401, 403, 'network']);
/** Instance failures in a row after which the PACS is taken to be down. */
const MAX_FAILURES_IN_A_ROW = 5;

/**
 * Downloads every instance of the selected series from the PACS, one WADO-RS request per instance, each written
 * atomically (temporary file, fsync, rename). An instance already on disk is not fetched again, so a pull
 * stopped anywhere (killed, PACS gone) resumes where it was. File and folder names are pseudonyms of the UIDs.
 */
export async function pullFromPacs(o: PullOptions): Promise<PullResult> {
  const client = new DicomwebClient({
    url: o.pacsUrl,
    log: o.log,
    authorization: o.auth,
    timeoutMs: o.timeoutMs,
    transferSyntax: o.transferSyntax,
    fallbackToAny: o.fallbackToAny,
    fetchImpl: o.fetchImpl,
    env: o.env,
  } satisfies DicomwebClientOptions);
  const selected = await selectSeries(client, o);
  const problems: PullProblem[] = [];
  if (o.series && o.withMasks !== false)
    selected.push(...(await maskSeriesFor(client, selected[0].study, o.series, problems)));
  const result: PullResult = {
    series: selected.length,
    instances: 0,
    fetched: 0,
    skipped: 0,
    bytes: 0,
    seriesDirs: [],
    problems,
  };
  let failuresInARow = 0;
  for (const [index, { study, series }] of selected.entries()) {
    const dir = join(o.dest, uidFileName(series));
    result.seriesDirs.push(dir);
    mkdirSync(dir, { recursive: true });
    removeLeftovers(dir);
    const sops = await client.listInstanceUids(study, series, o.pageSize);
    result.instances += sops.length;
    let done = 0;
    const progress = async () =>
      await o.onProgress?.({
        seriesIndex: index + 1,
        seriesCount: selected.length,
        done,
        total: sops.length,
        bytes: result.bytes,
      });
    await progress();
    for (const sop of sops) {
      const file = join(dir, `${uidFileName(sop)}.dcm`);
      if (isCompletePart10(file)) {
        result.skipped++;
        result.bytes += statSync(file).size;
      } else {
        try {
          const bytes = await client.retrieveInstance(study, series, sop);
          if (!hasPart10Magic(bytes))
            throw new Error('the PACS sent something that is not a DICOM Part 10 file');
          writeFileAtomic(file, bytes);
          result.fetched++;
          result.bytes += bytes.byteLength;
          failuresInARow = 0;
        } catch (e) {
          if (e instanceof PacsError && FATAL.has(e.status)) throw e;
          result.problems.push({
            series: uidPseudonym(series),
            instance: uidPseudonym(sop),
            reason: (e as Error).message,
          });
          if (++failuresInARow >= MAX_FAILURES_IN_A_ROW) throw e;
          continue;
        }
      }
      done++;
      await progress();
    }
  }
  return result;
}

/** `series 2/3: 40/120 instances, 12.3 MB` */
export function formatPullProgress(p: PullProgress): string {
  return `series ${p.seriesIndex}/${p.seriesCount}: ${p.done}/${p.total} instances, ${(p.bytes / 1e6).toFixed(1)} MB`;
}

async function selectSeries(
  client: DicomwebClient,
  o: PullOptions,
): Promise<Array<{ study: string; series: string }>> {
  if (o.series) {
    if (o.study) return [{ study: o.study, series: o.series }];
    const found = await client.searchSeries({ SeriesInstanceUID: o.series });
    const study = found.map((s) => dicomJsonString(s, TAG.studyUid)).find((u) => u !== undefined);
    if (!study) throw notFound(client, ['series'], { SeriesInstanceUID: o.series });
    return [{ study, series: o.series }];
  }
  if (!o.study && !o.query) throw new Error('pull what? give a study, a series or a query');
  const found = await client.searchSeries(o.query ?? {}, o.study);
  if (o.study && !o.query && found.length === 0) throw notFound(client, ['studies', o.study, 'series'], {});
  return found.flatMap((s) => {
    const study = dicomJsonString(s, TAG.studyUid) ?? o.study;
    const series = dicomJsonString(s, TAG.seriesUid);
    return study && series ? [{ study, series }] : [];
  });
}

/**
 * The study's SEG and RTSTRUCT series that reference `series`: masks are series of their own, which a pull of
 * one series by UID would otherwise leave behind. Found by QIDO-RS (Modality) and checked in each candidate's
 * WADO-RS metadata (any SeriesInstanceUID inside a sequence: SEG's ReferencedSeriesSequence, RTSTRUCT's
 * RTReferencedSeriesSequence), so a mask of another series of the study is not pulled. A PACS that cannot
 * answer these lookups costs the masks, not the series: a problem, unless it refuses the credentials.
 */
async function maskSeriesFor(
  client: DicomwebClient,
  study: string,
  series: string,
  problems: PullProblem[],
): Promise<Array<{ study: string; series: string }>> {
  const found: Array<{ study: string; series: string }> = [];
  for (const modality of ['SEG', 'RTSTRUCT']) {
    let candidates: string[];
    try {
      const list = await client.searchSeries({ Modality: modality }, study);
      candidates = list.flatMap((d) => dicomJsonString(d, TAG.seriesUid) ?? []).filter((u) => u !== series);
    } catch (e) {
      if (e instanceof PacsError && FATAL.has(e.status)) throw e;
      problems.push({
        series: uidPseudonym(series),
        reason: `could not look for ${modality} series: ${(e as Error).message}`,
      });
      continue;
    }
    for (const candidate of candidates) {
      try {
        const metadata = await client.seriesMetadata(study, candidate);
        if (metadata.some((ds) => referencesSeries(ds, series, false)))
          found.push({ study, series: candidate });
      } catch (e) {
        if (e instanceof PacsError && FATAL.has(e.status)) throw e;
        problems.push({
          series: uidPseudonym(candidate),
          reason: `could not read the ${modality} series' references: ${(e as Error).message}`,
        });
      }
    }
  }
  return found;
}

/** True when a SeriesInstanceUID inside a sequence of `ds` (at any depth) is `series`; the top level is `ds`'s own. */
function referencesSeries(ds: DicomJson, series: string, nested: boolean): boolean {
  if (nested && dicomJsonString(ds, TAG.seriesUid) === series) return true;
  return Object.values(ds).some(
    (element) =>
      element?.vr === 'SQ' &&
      (element.Value ?? []).some(
        (item) =>
          item !== null && typeof item === 'object' && referencesSeries(item as DicomJson, series, true),
      ),
  );
}

function notFound(client: DicomwebClient, path: string[], query: Record<string, string>): PacsError {
  const url = new URL(`${client.root}/${path.join('/')}`);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  return new PacsError(404, statusReason(404), pacsLogTarget(url));
}

/** Temporary files of writes a crash interrupted (writeFileAtomic's `<file>.tmp-<pid>-<n>`). */
function removeLeftovers(dir: string): void {
  for (const name of readdirSync(dir))
    if (/\.tmp-\d+-\d+$/.test(name)) rmSync(join(dir, name), { force: true });
}

function hasPart10Magic(bytes: Uint8Array): boolean {
  return bytes.byteLength > 132 && Buffer.from(bytes.subarray(128, 132)).toString('latin1') === 'DICM';
}

/** Present and a Part 10 file: renamed into place only after fsync, so present means complete. */
function isCompletePart10(file: string): boolean {
  if (!existsSync(file)) return false;
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(132);
    return readSync(fd, head, 0, 132, 0) === 132 && head.subarray(128, 132).toString('latin1') === 'DICM';
  } finally {
    closeSync(fd);
  }
}
