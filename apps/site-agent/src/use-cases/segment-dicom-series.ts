/**
 * Use case: `site-agent segment` on DICOM, from where the series is to where the result goes. The series is a
 * file or folder, or is pulled from the PACS first (WADO-RS into `<home>/pacs-cache/`, only what is missing);
 * segmentDicom segments it; the masks are written as PNG(s) and/or one DICOM-SEG file, and the SEG is stored in
 * the PACS (STOW-RS). The PACS are only those listed in agent.json. `serve` calls segmentDicom itself.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { encodeMaskPng } from '@casam/casam-core';
import { EXIT, UserError } from '../cli/errors';
import { EgressLog } from '../egress/egress-log';
import type { AgentHome } from '../home/agent-home';
import { writeOutputFile } from '../io/image-file';
import type { EngineChoice } from '../model/engine-factory';
import { DicomwebClient } from '../pacs/dicomweb-client';
import { checkPacsAllowed } from '../pacs/pacs-allowlist';
import { pacsUserError } from '../pacs/pacs-exit';
import { formatPullProgress, pullFromPacs } from '../pacs/pull-from-pacs';
import { type DicomSegmentation, type DicomSegmentRequest, segmentDicom } from './segment-dicom';

/** A PACS's DICOMweb root and how to reach it. */
export interface PacsConnection {
  url: string;
  /** Authorization header value (pacs/pacs-auth.ts). */
  auth?: string;
  timeoutMs: number;
}

/** Where the series is: a DICOM file or folder (`seriesUid` picks one of several), or a series on the PACS. */
export type DicomSeriesSource =
  | { kind: 'path'; path: string; seriesUid?: string }
  | { kind: 'pacs'; pacs: PacsConnection; seriesUid: string };

export interface DicomSeriesSegmentRequest extends Omit<DicomSegmentRequest, 'path' | 'seriesUid'> {
  source: DicomSeriesSource;
  /** PNG mask(s): a file for one slice, else a folder of slice-0001.png … (geometric order). */
  out?: string;
  /** The DICOM-SEG file. */
  segOut?: string;
  /** The PACS the DICOM-SEG is stored in. */
  stow?: PacsConnection;
  engine?: EngineChoice;
}

/** DICOM segmentation reads and writes the agent home (base model, bundle, PACS cache): there must be one. */
export class NoAgentHomeError extends UserError {
  override name = 'NoAgentHomeError';
  constructor(dir: string) {
    super(`DICOM segmentation runs in an agent home (site-agent init); none at ${dir}`, EXIT.usage);
  }
}

export async function segmentDicomSeries(
  home: AgentHome,
  r: DicomSeriesSegmentRequest,
  log: (l: string) => void,
): Promise<DicomSegmentation> {
  if (!home.exists()) throw new NoAgentHomeError(home.dir);
  const { source } = r;
  const path =
    source.kind === 'pacs' ? await pullSeries(home, source.pacs, source.seriesUid, log) : source.path;
  // Refused before any work: the SEG carries the patient's identity and may go only to a listed PACS.
  if (r.stow) checkPacsAllowed(home.readConfig(), r.stow.url, 'pacs_stow', new EgressLog(home.egressLogFile));
  const result = await segmentDicom(home, { ...r, path, seriesUid: source.seriesUid }, log, r.engine);
  if (r.out) {
    writeMasks(r.out, result);
    log(`mask(s) → ${r.out}`);
  }
  if (r.segOut) {
    writeOutputFile(r.segOut, result.seg);
    log(`DICOM-SEG (${result.results.length} slice(s)) → ${r.segOut}`);
  }
  if (r.stow) {
    await storeSeg(home, r.stow, result.seg);
    log(`DICOM-SEG stored in the PACS (STOW-RS)`);
  }
  return result;
}

/** The series pulled into the home's PACS cache (only what is missing); its folder. */
async function pullSeries(
  home: AgentHome,
  pacs: PacsConnection,
  series: string,
  log: (l: string) => void,
): Promise<string> {
  const egress = new EgressLog(home.egressLogFile);
  checkPacsAllowed(home.readConfig(), pacs.url, 'pacs_qido', egress);
  try {
    const r = await pullFromPacs({
      pacsUrl: pacs.url,
      series,
      withMasks: false,
      dest: join(home.dir, 'pacs-cache'),
      log: egress,
      fallbackToAny: true,
      timeoutMs: pacs.timeoutMs,
      ...(pacs.auth ? { auth: pacs.auth } : {}),
      onProgress: (p) => {
        if (p.done === p.total) log(`  pacs ${formatPullProgress(p)}`);
      },
    });
    for (const p of r.problems) log(`  problem [pacs] instance ${p.instance ?? '?'}: ${p.reason}`);
    log(`pulled the series: ${r.fetched} instance(s) fetched, ${r.skipped} already here`);
    return r.seriesDirs[0];
  } catch (e) {
    throw pacsUserError(e) ?? e;
  }
}

function writeMasks(out: string, r: DicomSegmentation): void {
  if (r.results.length === 1) {
    const s = r.series.slices[0];
    writeOutputFile(out, encodeMaskPng(r.results[0].mask, s.width, s.height));
    return;
  }
  mkdirSync(out, { recursive: true });
  for (const x of r.results) {
    const s = r.series.slices[x.index];
    writeOutputFile(
      join(out, `slice-${String(x.index + 1).padStart(4, '0')}.png`),
      encodeMaskPng(x.mask, s.width, s.height),
    );
  }
}

async function storeSeg(home: AgentHome, pacs: PacsConnection, seg: Uint8Array): Promise<void> {
  const client = new DicomwebClient({
    url: pacs.url,
    log: new EgressLog(home.egressLogFile),
    ...(pacs.auth ? { authorization: pacs.auth } : {}),
    timeoutMs: pacs.timeoutMs,
  });
  try {
    await client.store([seg]);
  } catch (e) {
    throw pacsUserError(e) ?? e;
  }
}
