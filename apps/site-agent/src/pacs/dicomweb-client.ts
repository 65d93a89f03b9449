/**
 * The agent's DICOMweb client: QIDO-RS searches, WADO-RS retrieves and STOW-RS stores against the hospital's
 * PACS, through the hospital proxy and CA exactly as the coordinator client goes (egress/proxy.ts).
 *
 * The PACS is a local destination: what it sends stays on site, and nothing here talks to the coordinator.
 * Every request is appended to the agent's egress log like every other connection, as `pacs_qido`,
 * `pacs_wado` or `pacs_stow`, with the target written by pacsLogTarget (UIDs as pseudonyms, no identifying
 * query values) — the log is something a hospital may hand to an auditor, so no patient or study identity.
 *
 * Not the npm `dicomweb-client`: it is built on the browser's XMLHttpRequest.
 */
import { createHash } from 'node:crypto';
import type { EgressLog } from '../egress/egress-log';
import { outboundRoute } from '../egress/proxy';
import { type DicomJson, dicomJsonItems, dicomJsonString, isDicomJsonList, TAG } from './dicom-json';
import { buildMultipartRelated, multipartBoundary, parseMultipart } from './multipart-related';
import { PacsError, statusReason, storeFailureReason, transportFailure } from './pacs-error';
import { pacsLogTarget, uidPseudonym } from './pacs-log-target';

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
const DICOM_JSON = 'application/dicom+json';

export interface DicomwebClientOptions {
  /** The DICOMweb root, e.g. `https://pacs.hospital.example/dicom-web`. */
  url: string;
  log: EgressLog;
  /** The Authorization header value (see pacs-auth.ts). */
  authorization?: string;
  /** Per request, answer and body included (default 60 s). */
  timeoutMs?: number;
  /**
   * Retrieve as explicit VR little endian (the PACS decompresses, default), or `*`: whatever the PACS stores.
   * With `fallbackToAny`, a PACS that cannot transcode (406) is asked again with `*`.
   */
  transferSyntax?: string;
  fallbackToAny?: boolean;
  /** Default: the route to the PACS through the hospital proxy, if `env` names one (NO_PROXY honoured). */
  fetchImpl?: typeof fetch;
  /** Where HTTP(S)_PROXY and NO_PROXY are read (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface StoreResult {
  stored: string[];
}

type PacsMessageType = 'pacs_qido' | 'pacs_wado' | 'pacs_stow';

export class DicomwebClient {
  readonly root: string;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;

  constructor(private readonly opts: DicomwebClientOptions) {
    const u = new URL(opts.url);
    if (u.protocol !== 'https:' && u.protocol !== 'http:')
      throw new Error(`the PACS URL must be http(s), got ${u.protocol}`);
    if (u.username || u.password)
      throw new Error('put PACS credentials in a file or variable, not in the URL (see --help)');
    this.root = u.href.replace(/\/+$/, '');
    this.fetchImpl = opts.fetchImpl ?? outboundRoute(this.root, opts.env).fetchImpl;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  searchStudies(query: Record<string, string> = {}): Promise<DicomJson[]> {
    return this.qido(['studies'], query);
  }

  /** Series of one study, or of all studies matching `query` when no study is given. */
  searchSeries(query: Record<string, string> = {}, study?: string): Promise<DicomJson[]> {
    return this.qido(study ? ['studies', study, 'series'] : ['series'], query);
  }

  searchInstances(study: string, series: string, query: Record<string, string> = {}): Promise<DicomJson[]> {
    return this.qido(['studies', study, 'series', series, 'instances'], query);
  }

  /**
   * The SOP instance UIDs of a series, page by page (`limit`/`offset`), because many PACS cap a QIDO answer
   * (often silently). A PACS that ignores `offset` repeats a page: no new UID ends the paging there.
   */
  async listInstanceUids(study: string, series: string, pageSize = 1000): Promise<string[]> {
    const uids = new Set<string>();
    for (let offset = 0; ; offset += pageSize) {
      const page = await this.searchInstances(study, series, {
        limit: String(pageSize),
        offset: String(offset),
      });
      const before = uids.size;
      for (const d of page) {
        const uid = dicomJsonString(d, TAG.sopUid);
        if (uid) uids.add(uid);
      }
      if (page.length < pageSize || uids.size === before) return [...uids];
    }
  }

  /**
   * The metadata of every instance of a series (WADO-RS `/metadata`, DICOM JSON without bulk data): what a
   * pull reads to find which series a SEG or RTSTRUCT references, without downloading it.
   */
  seriesMetadata(study: string, series: string): Promise<DicomJson[]> {
    return this.getJson('pacs_wado', ['studies', study, 'series', series, 'metadata'], {});
  }

  /** One instance as a DICOM Part 10 file. */
  async retrieveInstance(study: string, series: string, sop: string): Promise<Uint8Array> {
    const { parts, target } = await this.wado(['studies', study, 'series', series, 'instances', sop]);
    if (parts.length !== 1) throw new PacsError('protocol', `${parts.length} parts for one instance`, target);
    return parts[0];
  }

  /** Every instance of a series, in one request (small series; pulls go per instance). */
  async retrieveSeries(study: string, series: string): Promise<Uint8Array[]> {
    return (await this.wado(['studies', study, 'series', series])).parts;
  }

  /** Stores Part 10 files; throws a PacsError naming how many the PACS refused and why. */
  async store(instances: Uint8Array[], study?: string): Promise<StoreResult> {
    const path = study ? ['studies', study] : ['studies'];
    const { body, contentType } = buildMultipartRelated(instances, 'application/dicom');
    const { res, bytes, target } = await this.request(
      'pacs_stow',
      path,
      {},
      'POST',
      {
        accept: DICOM_JSON,
        'content-type': contentType,
      },
      body,
    );
    let answer: DicomJson = {};
    if (bytes.byteLength > 0) {
      try {
        const parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
        answer = (Array.isArray(parsed) ? parsed[0] : parsed) as DicomJson;
      } catch {
        if (res.ok) throw new PacsError('protocol', 'the STOW-RS answer is not DICOM JSON', target);
      }
    }
    const failed = dicomJsonItems(answer, TAG.failedSopSequence);
    if (failed.length > 0 || !res.ok) {
      const reasons = [...new Set(failed.map((f) => dicomJsonString(f, TAG.failureReason) ?? '?'))];
      const which = failed
        .map((f) => uidPseudonym(dicomJsonString(f, TAG.referencedSopInstanceUid) ?? ''))
        .slice(0, 3);
      throw new PacsError(
        res.ok ? 'refused' : res.status,
        `the PACS refused ${failed.length || instances.length} of ${instances.length} instances` +
          (failed.length
            ? ` (failure reason ${reasons.map(storeFailureReason).join(', ')}; ${which.join(', ')})`
            : `: ${statusReason(res.status)}`),
        target,
      );
    }
    return {
      stored: dicomJsonItems(answer, TAG.referencedSopSequence).map(
        (r) => dicomJsonString(r, TAG.referencedSopInstanceUid) ?? '',
      ),
    };
  }

  private qido(path: string[], query: Record<string, string>): Promise<DicomJson[]> {
    return this.getJson('pacs_qido', path, query);
  }

  /** A GET answered with a list of DICOM JSON datasets (QIDO-RS, WADO-RS metadata). */
  private async getJson(
    type: PacsMessageType,
    path: string[],
    query: Record<string, string>,
  ): Promise<DicomJson[]> {
    const { res, bytes, target } = await this.request(type, path, query, 'GET', {
      accept: DICOM_JSON,
    });
    if (!res.ok) throw new PacsError(res.status, statusReason(res.status), target);
    if (res.status === 204 || bytes.byteLength === 0) return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
    } catch {
      throw new PacsError('protocol', `the ${kind(type)} answer is not JSON`, target);
    }
    if (!isDicomJsonList(parsed))
      throw new PacsError(
        'protocol',
        `the ${kind(type)} answer is not a list of DICOM JSON datasets`,
        target,
      );
    return parsed;
  }

  private async wado(path: string[]): Promise<{ parts: Uint8Array[]; target: string }> {
    const accept = (ts: string) => `multipart/related; type="application/dicom"; transfer-syntax=${ts}`;
    const ts = this.opts.transferSyntax ?? EXPLICIT_VR_LITTLE_ENDIAN;
    let { res, bytes, target } = await this.request('pacs_wado', path, {}, 'GET', { accept: accept(ts) });
    if (res.status === 406 && ts !== '*' && this.opts.fallbackToAny)
      ({ res, bytes, target } = await this.request('pacs_wado', path, {}, 'GET', { accept: accept('*') }));
    if (!res.ok) throw new PacsError(res.status, statusReason(res.status), target);
    const boundary = multipartBoundary(res.headers.get('content-type'));
    if (!boundary) throw new PacsError('protocol', 'the WADO-RS answer is not multipart/related', target);
    try {
      return { parts: parseMultipart(bytes, boundary).map((p) => p.body), target };
    } catch (e) {
      throw new PacsError('protocol', `the WADO-RS answer does not parse: ${(e as Error).message}`, target);
    }
  }

  /** One request, answer read in full under the timeout, logged once whatever happens. */
  private async request(
    type: PacsMessageType,
    path: string[],
    query: Record<string, string>,
    method: 'GET' | 'POST',
    headers: Record<string, string>,
    body?: Uint8Array,
  ): Promise<{ res: Response; bytes: Uint8Array; target: string }> {
    const url = new URL(`${this.root}/${path.map(encodeURIComponent).join('/')}`);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const target = pacsLogTarget(url);
    const log = (outcome: string) =>
      this.opts.log.append({
        at: new Date(),
        type,
        method,
        target,
        bytes: body?.byteLength ?? 0,
        sha256: createHash('sha256')
          .update(body ?? '')
          .digest('hex'),
        outcome,
      });
    try {
      const res = await this.fetchImpl(url, {
        method,
        headers: {
          ...headers,
          ...(this.opts.authorization ? { authorization: this.opts.authorization } : {}),
        },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const bytes = new Uint8Array(await res.arrayBuffer());
      log(String(res.status));
      return { res, bytes, target };
    } catch (e) {
      const { status, reason } = transportFailure(e, this.timeoutMs);
      log(`failed: ${reason}`.slice(0, 200));
      throw new PacsError(status, reason, target);
    }
  }
}

function kind(type: PacsMessageType): string {
  return type === 'pacs_qido' ? 'QIDO-RS' : type === 'pacs_wado' ? 'WADO-RS metadata' : 'STOW-RS';
}
