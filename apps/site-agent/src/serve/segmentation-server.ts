import { statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  createRoutedSegmenter,
  decodeImage,
  encodeMaskPng,
  imageShapeProblem,
  PromptError,
  type LoadedAdapter,
  type RoutedSegmenter,
  type SamEngine,
} from '@casam/casam-core';
import type { BundleBaseModel } from '@casam/protocol';
import { type ActiveBundle } from '../bundle/installed-bundle';
import { dicomSegResult } from '../use-cases/dicom-seg-result';
import { decisionJson, type SegmentDecisionJson } from '../use-cases/routing-decision';
import { parseBox, parsePoint, promptProblem } from '../cli/args';
import { asciiJson, printable } from '../cli/printable';
import {
  type DicomImage,
  DICOM_MEDIA_TYPE,
  DICOM_QUERY_PARAMETERS,
  decodeDicomRequest,
  parseDicomQuery,
} from './dicom-request';
import { HttpError } from './http-error';
import { ServerTiming } from './server-timing';

/**
 * Largest image `serve` decodes, width × height (4096², 48 MiB as RGB): a server holds up to `maxQueue` decoded
 * images at once, so its limit is far below the library's (8192²). Checked on the PNG/JPEG header, before
 * decoding. `serve.maxImagePixels` in agent.json changes it.
 */
export const SERVE_MAX_IMAGE_PIXELS = 4096 * 4096;

export interface SegmentationServerOptions {
  engine: SamEngine;
  /**
   * Builds the routed segmenter for a bundle's adapters over `engine` (the base model's `createSegmenter`:
   * ONNX Runtime or TF.js). Default: the TF.js routed segmenter on `engine`.
   */
  createSegmenter?: (adapters: LoadedAdapter[]) => Promise<RoutedSegmenter>;
  /** Loads the bundle to use now (re-verified from disk), or null for plain frozen SAM. */
  loadBundle: () => Promise<ActiveBundle | null>;
  /** File whose change means "a new bundle was installed" (the bundle store's current.json). */
  bundlePointerFile: string;
  host: string;
  port: number;
  maxRequestBytes: number;
  /** Largest width × height decoded (default SERVE_MAX_IMAGE_PIXELS), PNG/JPEG or one DICOM frame. */
  maxImagePixels?: number;
  /** The base model a DICOM-SEG answer names (default: the engine's preset, weights unknown). */
  baseModel?: Pick<BundleBaseModel, 'preset' | 'fingerprint'>;
  /** Requests waiting for the model beyond this many are answered 503 (the model runs one at a time). */
  maxQueue?: number;
  /** How often the bundle pointer file is checked for a new bundle, in the background (default 1000 ms). */
  watchIntervalMs?: number;
  log: (l: string) => void;
}

export interface SegmentResponseJson extends SegmentDecisionJson {
  width: number;
  height: number;
  /** The binary mask (0/255) as a base64 PNG at the image's size. */
  maskPng: string;
}

/**
 * The agent's local segmentation API for hospital applications (loopback by default).
 *
 *   POST /v1/segment?box=x0,y0,x1,y1[&point=x,y[,label]]…[&multimask=1]
 *        body: the image (image/png or image/jpeg), at most maxRequestBytes
 *        → 200 JSON {decision…, maskPng} or, with `Accept: image/png`, the mask PNG and the decision in the
 *          `X-Casam-Decision` header (the same JSON in printable ASCII: see {@link asciiJson})
 *   POST /v1/segment?<prompt as above>[&frame=<1-based>][&window=auto|ct-abdomen|…]
 *        body: one DICOM Part 10 instance (application/dicom), at most maxRequestBytes; `frame` is required
 *        for a multi-frame instance. The frame is windowed as `segment --image x.dcm` does it (the tags'
 *        window, else percentiles; MONOCHROME1 inverted) and routed like a PNG.
 *        → 200 JSON as above or, with `Accept: application/dicom`, a DICOM-SEG (Part 10) referencing the frame
 *          and naming task, adapter, bundle and base model, the decision in `X-Casam-Decision`. A file that
 *          cannot be used is a 4xx whose code is the DicomProblem's (not-dicom, unsupported-transfer-syntax
 *          (415), too-large (413), no-pixel-data, unsupported-sop-class…).
 *   GET  /healthz → {status, bundleVersion, tasks, backend…}
 *
 * Requests run one at a time on the model. The bundle pointer file is watched in the background (and checked
 * again before each request): a newly installed or rolled-back bundle is loaded and verified while the old one
 * keeps serving, then swapped in, so no request fails during a swap and /healthz shows it without waiting for a
 * request.
 */
export class SegmentationServer {
  private server: http.Server | null = null;
  /** The segmenter and the bundle it was built from, replaced together so an answer never mixes two bundles. */
  private active: { segmenter: RoutedSegmenter; bundle: ActiveBundle | null } | null = null;
  private pointerKey = '';
  private chain: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private swapping: Promise<void> | null = null;
  private watcher: NodeJS.Timeout | null = null;
  readonly stats = { served: 0, failed: 0, swaps: 0 };

  constructor(private readonly o: SegmentationServerOptions) {}

  private makeSegmenter(adapters: LoadedAdapter[]): Promise<RoutedSegmenter> {
    return this.o.createSegmenter
      ? this.o.createSegmenter(adapters)
      : Promise.resolve(createRoutedSegmenter(this.o.engine, adapters));
  }

  get bundleVersion(): number | null {
    return this.active?.bundle?.installed.version ?? null;
  }

  async start(): Promise<string> {
    await this.reloadIfChanged(true);
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.requestTimeout = 60_000;
    await new Promise<void>((r) => this.server!.listen(this.o.port, this.o.host, r));
    this.watcher = setInterval(() => void this.reloadIfChanged(), this.o.watchIntervalMs ?? 1000);
    this.watcher.unref();
    const a = this.server.address() as AddressInfo;
    return `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
  }

  async close(): Promise<void> {
    if (this.watcher) clearInterval(this.watcher);
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    await this.swapping?.catch(() => undefined);
    await this.chain.catch(() => undefined);
    this.active?.segmenter.dispose();
  }

  /** Identifies the pointer file's version: an atomic replace makes a new inode, an edit in place a new mtime/size. */
  private pointerKeyNow(): string {
    try {
      const st = statSync(this.o.bundlePointerFile);
      return `${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch {
      return 'absent';
    }
  }

  /** Builds a segmenter for the installed bundle when the pointer file changed; the old one serves meanwhile. */
  private async reloadIfChanged(force = false): Promise<void> {
    if (this.swapping) return this.swapping;
    const key = this.pointerKeyNow();
    if (!force && key === this.pointerKey) return;
    this.swapping = (async () => {
      try {
        // Remembered before loading: a load that fails is logged once, not retried every tick until the next change.
        this.pointerKey = key;
        const bundle = await this.o.loadBundle();
        const next = { segmenter: await this.makeSegmenter(bundle?.adapters ?? []), bundle };
        const old = this.active;
        this.active = next;
        if (old) {
          this.stats.swaps++;
          this.o.log(
            `serving bundle ${bundle?.installed.version ?? 'none'} (${bundle?.adapters.length ?? 0} task(s))`,
          );
          // The old segmenter may still be answering a request: dispose it after the queue drains.
          void this.chain.then(() => old.segmenter.dispose());
        }
      } catch (e) {
        const why = printable((e as Error).message);
        if (this.active)
          this.o.log(`could not load the installed bundle, the one loaded before keeps serving: ${why}`);
        else {
          // Nothing loaded yet (at start): answer with frozen SAM rather than not at all.
          this.active = { segmenter: await this.makeSegmenter([]), bundle: null };
          this.o.log(`warning: could not load the installed bundle, serving frozen SAM: ${why}`);
        }
      } finally {
        this.swapping = null;
      }
    })();
    return this.swapping;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const timing = new ServerTiming();
    let admitted = false;
    try {
      const url = requestUrl(req.url ?? '/');
      if (url.pathname === '/healthz') {
        if (req.method !== 'GET') throw new HttpError(405, 'method_not_allowed', 'use GET');
        return this.json(res, 200, {
          status: 'ok',
          bundleVersion: this.bundleVersion,
          tasks: this.active?.bundle?.manifest.tasks.map((t) => ({ taskId: t.taskId, name: t.name })) ?? [],
          model: this.o.engine.config.name,
          queued: this.queued,
          ...this.stats,
        });
      }
      if (url.pathname !== '/v1/segment')
        throw new HttpError(
          404,
          'not_found',
          `no route ${url.pathname}; use POST /v1/segment or GET /healthz`,
        );
      if (req.method !== 'POST') throw new HttpError(405, 'method_not_allowed', 'use POST');
      const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      const dicom = type === DICOM_MEDIA_TYPE;
      if (!dicom && !['image/png', 'image/jpeg'].includes(type))
        throw new HttpError(
          415,
          'unsupported_media_type',
          'send the image as the body with Content-Type image/png, image/jpeg or application/dicom',
        );
      const accept = req.headers.accept ?? '';
      const wantsSeg = acceptsMediaType(accept, DICOM_MEDIA_TYPE);
      if (wantsSeg && !dicom)
        throw new HttpError(
          406,
          'not_acceptable',
          'a DICOM-SEG answer references its source instance: send the image as application/dicom',
        );
      const declared = Number(req.headers['content-length'] ?? NaN);
      if (declared > this.o.maxRequestBytes)
        throw new HttpError(413, 'too_large', `the image is larger than ${this.o.maxRequestBytes} bytes`);
      const prompt = parsePrompt(url.searchParams, dicom ? DICOM_QUERY_PARAMETERS : []);
      const dicomQuery = dicom ? parseDicomQuery(url.searchParams) : undefined;
      // Counted from before the body is read: each admitted request may hold a decoded image in memory.
      if (this.queued >= (this.o.maxQueue ?? 32))
        throw new HttpError(503, 'busy', 'too many requests waiting; retry shortly');
      this.queued++;
      admitted = true;
      const body = await readBody(req, this.o.maxRequestBytes);
      timing.mark('read');
      const maxPixels = this.o.maxImagePixels ?? SERVE_MAX_IMAGE_PIXELS;
      let image;
      let source: DicomImage['source'] | undefined;
      if (dicomQuery)
        ({ image, source } = await decodeDicomRequest(body, dicomQuery, {
          maxPixels,
          maxRequestBytes: this.o.maxRequestBytes,
        }));
      else
        try {
          image = decodeImage(body, 'request body', { maxPixels });
        } catch (e) {
          throw new HttpError(400, 'bad_image', (e as Error).message);
        }
      const shape = imageShapeProblem(image.height, image.width, this.o.engine.config.imgSize);
      if (shape) throw new HttpError(400, 'bad_image', shape);
      const problem = promptProblem(prompt, image.width, image.height);
      if (problem) throw new HttpError(400, 'bad_prompt', problem);
      timing.mark('decode-image');
      const run = this.chain.then(async () => {
        await this.reloadIfChanged();
        const { segmenter, bundle } = this.active!;
        timing.mark('wait');
        const r = await segmenter.segment(image, prompt);
        timing.add('embed', r.timings.embedMs);
        timing.add('route', r.timings.routeMs);
        timing.add('align', r.timings.alignMs);
        timing.add('decode', r.timings.decodeMs);
        return { r, bundle };
      });
      this.chain = run.catch(() => undefined);
      let result;
      try {
        result = await run;
      } catch (e) {
        if (e instanceof PromptError) throw new HttpError(400, 'bad_prompt', e.message);
        throw e;
      }
      // The segment call's own overhead and the hop back here are booked to no step (total − the steps' sum).
      timing.skip();
      const { r, bundle } = result;
      const decision = decisionJson(r, bundle?.names ?? new Map(), bundle?.installed.version ?? null);
      if (wantsSeg && source) {
        const seg = dicomSegResult({
          source,
          mask: r.binary[r.best],
          decision,
          tasks: bundle?.manifest.tasks ?? [],
          baseModel: this.o.baseModel ?? { preset: this.o.engine.config.name, fingerprint: 'unknown' },
        });
        this.stats.served++;
        timing.mark('encode');
        res.writeHead(200, {
          'content-type': DICOM_MEDIA_TYPE,
          'x-casam-decision': asciiJson(decision),
          'server-timing': timing.header(),
        });
        res.end(seg);
        return;
      }
      const png = encodeMaskPng(r.binary[r.best], image.width, image.height);
      this.stats.served++;
      if (accept.includes('image/png')) {
        // Header values must be Latin-1 without controls: task names in any script are sent as JSON \u escapes.
        const xDecision = asciiJson(decision);
        timing.mark('encode');
        res.writeHead(200, {
          'content-type': 'image/png',
          'x-casam-decision': xDecision,
          'server-timing': timing.header(),
        });
        res.end(png);
        return;
      }
      const out: SegmentResponseJson = {
        ...decision,
        width: image.width,
        height: image.height,
        maskPng: Buffer.from(png.buffer, png.byteOffset, png.byteLength).toString('base64'),
      };
      const json = JSON.stringify(out);
      timing.mark('encode');
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'server-timing': timing.header(),
      });
      res.end(json);
    } catch (e) {
      this.stats.failed++;
      if (e instanceof HttpError) {
        // A body refused unread (or half read) is not drained: the connection closes after this answer.
        if (e.status === 413) res.setHeader('connection', 'close');
        return this.json(res, e.status, { error: { code: e.code, message: e.message } });
      }
      this.o.log(`internal error: ${(e as Error).stack ?? String(e)}`);
      this.json(res, 500, { error: { code: 'internal', message: 'internal error (see the agent log)' } });
    } finally {
      if (admitted) this.queued--;
    }
  }

  private json(res: http.ServerResponse, status: number, body: unknown): void {
    if (res.headersSent) return void res.end();
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  }
}

/**
 * The request target as a URL. Node's parser passes targets no URL parser accepts (`http://[`, `//[`): that is
 * no route of ours, not an internal error (it answered 500 before).
 */
function requestUrl(target: string): URL {
  try {
    return new URL(target, 'http://local');
  } catch {
    throw new HttpError(
      404,
      'not_found',
      `the request target ${JSON.stringify(target.slice(0, 100))} is not a URL; use POST /v1/segment or GET /healthz`,
    );
  }
}

/** True when the Accept header names `type` itself (not application/dicom+json, not only *\/*). */
function acceptsMediaType(accept: string, type: string): boolean {
  return accept.split(',').some((range) => range.split(';')[0].trim().toLowerCase() === type);
}

function parsePrompt(q: URLSearchParams, extra: readonly string[]) {
  const known = new Set(['box', 'point', 'multimask', ...extra]);
  for (const k of q.keys())
    if (!known.has(k)) throw new HttpError(400, 'bad_prompt', `unknown query parameter ${k}`);
  const boxes = q.getAll('box');
  const points = q.getAll('point');
  if (boxes.length > 1) throw new HttpError(400, 'bad_prompt', 'at most one box');
  if (!boxes.length && !points.length)
    throw new HttpError(400, 'bad_prompt', 'give box=x0,y0,x1,y1 and/or point=x,y[,label]');
  try {
    const box = boxes.length ? parseBox(boxes[0]) : undefined;
    const pts = points.map(parsePoint);
    return {
      box,
      points: pts.length ? pts.map((p) => p.xy) : undefined,
      labels: pts.length ? pts.map((p) => p.label) : undefined,
      multimask: q.get('multimask') === '1' || q.get('multimask') === 'true',
    };
  } catch (e) {
    throw new HttpError(400, 'bad_prompt', (e as Error).message.replace(/--/g, ''));
  }
}

/**
 * The request body, at most `max` bytes. Past the limit the rest is read and dropped instead of destroying the
 * socket: a client still sending (a chunked body has no Content-Length to refuse early) then receives the 413
 * instead of a connection reset. The answer closes the connection, and a client still sending 5 s after the
 * limit is cut off.
 */
function readBody(req: http.IncomingMessage, max: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    let over = false;
    req.on('data', (d: Buffer) => {
      n += d.byteLength;
      if (over) return;
      if (n > max) {
        over = true;
        parts.length = 0;
        reject(new HttpError(413, 'too_large', `the image is larger than ${max} bytes`));
        setTimeout(() => req.socket.destroy(), 5000).unref();
        return;
      }
      parts.push(d);
    });
    req.on('end', () => resolve(new Uint8Array(Buffer.concat(parts))));
    // The client hung up before sending the whole body (Node reports `aborted`): a cut-short image, not a bug
    // of ours (it was logged as an internal error with a stack trace). Nobody is left to read the answer.
    req.on('error', () =>
      reject(new HttpError(400, 'bad_image', 'the image was cut short: the client closed the connection')),
    );
  });
}

export const BUNDLE_POINTER = (bundlesDir: string) => join(bundlesDir, 'current.json');
