import { readFileSync } from 'node:fs';
import type { EgressLog } from '../egress/egress-log';
import { DicomwebClient } from './dicomweb-client';

export interface StoreToPacsOptions {
  /** The PACS DICOMweb root. */
  pacsUrl: string;
  /** DICOM Part 10 files to store (e.g. the DICOM-SEG results of `segment`). */
  files: string[];
  /** Authorization header value (pacs-auth.ts). */
  auth?: string;
  log: EgressLog;
  timeoutMs?: number;
  /** Files per STOW-RS request are gathered up to this many bytes (default 32 MB; a bigger file goes alone). */
  maxBatchBytes?: number;
  env?: NodeJS.ProcessEnv;
}

export interface StoreToPacsResult {
  stored: number;
  requests: number;
}

/**
 * Stores files on the PACS with STOW-RS, a few per request. A refusal stops at that request with the PacsError
 * (reasons and instance pseudonyms); storing again is safe, since a PACS keys instances by SOP Instance UID.
 */
export async function storeToPacs(o: StoreToPacsOptions): Promise<StoreToPacsResult> {
  const client = new DicomwebClient({
    url: o.pacsUrl,
    log: o.log,
    authorization: o.auth,
    timeoutMs: o.timeoutMs,
    env: o.env,
  });
  const limit = o.maxBatchBytes ?? 32 * 1024 * 1024;
  const result: StoreToPacsResult = { stored: 0, requests: 0 };
  let batch: Uint8Array[] = [];
  let size = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    result.stored += (await client.store(batch)).stored.length;
    result.requests++;
    batch = [];
    size = 0;
  };
  for (const file of o.files) {
    const bytes = readFileSync(file);
    if (size > 0 && size + bytes.byteLength > limit) await flush();
    batch.push(bytes);
    size += bytes.byteLength;
  }
  await flush();
  return result;
}
