import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import * as jpeg from 'jpeg-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeRgbPng } from '@casam/casam-core';
import { PNG_SIGNATURE, pngClaiming } from '@casam/casam-core/testing';
import {
  checkBounded,
  formatGrowth,
  MemoryWatch,
  fuzzRuns,
  fuzzSeed,
  headerValue,
  hostileString,
  labelledBytes,
  malformedHeaderValue,
  percentEncode,
  type RawOutcome,
  type RawRequest,
  rawHttp,
} from '@casam/protocol/testing';
import { SegmentationServer } from './segmentation-server';
import { startTestSegmentationServer, testBundle } from '../testing/segmentation-server.testing';

/**
 * Bounded fuzzing of `site-agent serve`'s HTTP API on a real server (casam-tiny with random weights on the
 * wasm backend, a bundle whose task name is outside Latin-1): image bodies (valid, truncated, corrupt, random
 * bytes, PNG/JPEG headers claiming huge sizes, a PNG whose pixel data inflates far past its header), prompt
 * query parameters, Accept and Content-Type headers, chunked and mis-framed bodies, odd methods and request
 * targets. Every answer must be a 200 as documented or a 4xx `{error: {code, message}}` with a documented code,
 * never a 5xx; afterwards /healthz answers, a normal request is served, nothing was logged as an internal
 * error and memory grew within a stated bound.
 *
 * A request the model runs takes about half a second on a loaded 2-core machine, so valid requests are a small
 * share and each property has a wall-clock cap. `CASAM_FUZZ_SEED=<n>` replays or explores another seed,
 * `CASAM_FUZZ_SCALE=<k>` runs k times more.
 */

const SEED = fuzzSeed(0x5eed_5e);
const REQUEST_RUNS = fuzzRuns(250);
const FRAMING_RUNS = fuzzRuns(80);
const TIME_LIMIT_MS = Number(process.env.CASAM_FUZZ_TIME_LIMIT_MS) || 20_000;
const MAX_REQUEST_BYTES = 256 * 1024;
const MAX_PIXELS = 100 * 100;
/**
 * Growth allowed from after a warm-up of 30 requests to the end (see MemoryWatch): RSS (includes the wasm
 * backend's heap, which only grows), and the JS heap after a full collection. Seen on the development machine:
 * +6 MiB RSS, a flat heap.
 */
const RSS_GROWTH_BOUND = 128 * 1024 * 1024;
const HEAP_GROWTH_BOUND = 32 * 1024 * 1024;

/** The error codes docs/site-agent.md lists for `serve` (`busy` is 503: never expected from one client). */
const DOCUMENTED_CODES = [
  'bad_image',
  'bad_prompt',
  'unsupported_media_type',
  'too_large',
  'not_found',
  'method_not_allowed',
];

/** Deterministic pixels (cheap: the fuzzer makes hundreds of images). */
function rgb(width: number, height: number, seed: number): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + seed * 7 + ((i / (width * 3)) | 0) * 13) & 255;
  return data;
}

const png = (w: number, h: number, seed: number): Buffer =>
  Buffer.from(encodeRgbPng({ width: w, height: h, data: rgb(w, h, seed) }));

/**
 * JPEG sizes the fuzzer uses: jpeg-js takes about 100 ms per encode on a loaded machine (it rebuilds its tables
 * each time), so each size is encoded once. Edge sizes, the pixel limit (100×100) and just past it.
 */
const JPEG_SIZES: [number, number][] = [
  [1, 1],
  [8, 8],
  [9, 7],
  [1, 120],
  [33, 47],
  [64, 80],
  [100, 100],
  [101, 99],
  [120, 120],
];
const jpegCache = new Map<string, Buffer>();

function jpg(w: number, h: number): Buffer {
  const key = `${w}x${h}`;
  let b = jpegCache.get(key);
  if (!b) {
    const src = rgb(w, h, 5);
    const rgba = new Uint8Array(w * h * 4);
    for (let i = 0, j = 0; i < src.length; i += 3, j += 4) rgba.set([src[i], src[i + 1], src[i + 2], 255], j);
    b = Buffer.from(jpeg.encode({ data: rgba, width: w, height: h }, 80).data);
    jpegCache.set(key, b);
  }
  return b;
}

/** A valid JPEG with its SOF0 frame header rewritten to claim `w`×`h`. */
function jpegClaiming(w: number, h: number): Buffer {
  const b = Buffer.from(jpg(8, 8));
  const sof = b.indexOf(Buffer.from([0xff, 0xc0]));
  b.writeUInt16BE(h & 0xffff, sof + 5);
  b.writeUInt16BE(w & 0xffff, sof + 7);
  return b;
}

/** What a serve answer must be: documented 200, or a 4xx with a documented code. */
function answerProblem(o: RawOutcome, method: string, path: string): string | null {
  if (o.kind !== 'answer') return `no answer (${o.kind} after ${o.received} bytes)`;
  const { status, headers, body } = o;
  // Node's HTTP server refusing the request before the app saw it: a bare status, no body.
  if ([400, 417, 431].includes(status) && headers['content-type'] === undefined && body.length === 0)
    return null;
  if (method === 'HEAD') return status < 500 ? null : `status ${status}`;
  const type = headers['content-type'] ?? '';
  if (status === 200) {
    if (type === 'image/png') {
      const decision = headers['x-casam-decision'] ?? '';
      if (!/^[\x20-\x7e]+$/.test(decision)) return `X-Casam-Decision is not printable ASCII: ${decision}`;
      JSON.parse(decision);
      return body.subarray(0, 8).equals(PNG_SIGNATURE) ? null : 'image answer is not a PNG';
    }
    const j = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    if (path === '/healthz') return j.status === 'ok' ? null : `health ${JSON.stringify(j)}`;
    return typeof j.maskPng === 'string' && typeof j.width === 'number' && typeof j.decision === 'string'
      ? null
      : `200 without a mask: ${JSON.stringify(j).slice(0, 200)}`;
  }
  if (status < 400 || status >= 500) return `status ${status}: ${body.toString('utf8').slice(0, 300)}`;
  if (!type.startsWith('application/json')) return `${status} with content-type ${type}`;
  let e: { code?: unknown; message?: unknown } | undefined;
  try {
    e = (JSON.parse(body.toString('utf8')) as { error?: typeof e }).error;
  } catch {
    return `${status} with a body that is not JSON: ${body.toString('latin1').slice(0, 200)}`;
  }
  if (!e || typeof e.message !== 'string' || !DOCUMENTED_CODES.includes(e.code as string))
    return `${status} not in the documented error shape: ${body.toString('utf8').slice(0, 300)}`;
  return null;
}

describe('serve API fuzz (real SegmentationServer over HTTP)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-serve-fuzz-'));
  const logs: string[] = [];
  let server: SegmentationServer;
  let url: string;
  const memory = new MemoryWatch(30);
  const byStatus = new Map<number, number>();
  // 60 MiB of zeros deflated to about 60 kB, as the pixel data of a PNG that claims 100×100.
  const idatBomb = deflateSync(Buffer.alloc(60 * 1024 * 1024));

  beforeAll(async () => {
    ({ server, url } = await startTestSegmentationServer({
      dir,
      logs,
      // A task name outside Latin-1: image-mode answers carry it in a header.
      loadBundle: async () => testBundle(1, 1e9, '🫁 lungs'),
      maxRequestBytes: MAX_REQUEST_BYTES,
      maxImagePixels: MAX_PIXELS,
    }));
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A valid image and its size: PNGs of any size up to 120×120, JPEGs of the sizes encoded once. */
  const sizedImage = (maxSide: number) =>
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc
          .tuple(fc.integer({ min: 1, max: maxSide }), fc.integer({ min: 1, max: maxSide }), fc.nat(255))
          .map(([w, h, seed]) => ({ bytes: png(w, h, seed), w, h, type: 'image/png' })),
      },
      {
        weight: 2,
        arbitrary: fc
          .constantFrom(...JPEG_SIZES.filter(([w, h]) => w <= maxSide && h <= maxSide))
          .map(([w, h]) => ({ bytes: jpg(w, h), w, h, type: 'image/jpeg' })),
      },
    );

  /** Image bodies: mostly broken, some valid. */
  const imageBody: fc.Arbitrary<Buffer> = fc
    .oneof(
      { weight: 5, arbitrary: sizedImage(120).map((i) => i.bytes) },
      // Truncated anywhere, or with bytes overwritten.
      {
        weight: 3,
        arbitrary: fc
          .tuple(sizedImage(120), fc.double({ min: 0, max: 1, noNaN: true }))
          .map(([i, f]) => i.bytes.subarray(0, Math.floor(i.bytes.length * f))),
      },
      {
        weight: 3,
        arbitrary: fc
          .tuple(sizedImage(120), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 8 }))
          .map(([i, edits]) => {
            const b = Buffer.from(i.bytes);
            for (const [at, v] of edits) b[at % b.length] = v;
            return b;
          }),
      },
      // Headers that claim sizes the body does not have: huge, zero, past 32 bits.
      {
        weight: 2,
        arbitrary: fc
          .tuple(
            fc.constantFrom(0, 1, 100, 101, 30_000, 65_535, 2 ** 31 - 1, 2 ** 32 - 1),
            fc.constantFrom(0, 1, 100, 30_000, 65_535, 2 ** 31 - 1, 2 ** 32 - 1),
            fc.boolean(),
          )
          .map(([w, h, isPng]) =>
            isPng ? pngClaiming(w, h, deflateSync(Buffer.alloc(64))) : jpegClaiming(w, h),
          ),
      },
      { weight: 1, arbitrary: fc.constant(pngClaiming(100, 100, idatBomb)) },
      { weight: 2, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          Buffer.alloc(0),
          PNG_SIGNATURE,
          Buffer.from([0xff, 0xd8, 0xff]),
          Buffer.concat([PNG_SIGNATURE, Buffer.from('IHDR')]),
          Buffer.from('GIF89a'),
          Buffer.alloc(MAX_REQUEST_BYTES + 1), // one byte over the limit
        ),
      },
    )
    .map(labelledBytes);

  const int = fc.oneof(fc.integer({ min: -3, max: 125 }), fc.constantFrom(0, 79, 99, 100, 119, -1));
  const numberText = fc.oneof(
    { weight: 6, arbitrary: int.map(String) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '',
        ' 1',
        '1.5',
        '1e2',
        '0x10',
        'NaN',
        'Infinity',
        '-0',
        '1e309',
        '９',
        '+1',
        '1_0',
      ),
    },
  );
  const box = fc.oneof(
    { weight: 6, arbitrary: fc.array(numberText, { minLength: 4, maxLength: 4 }).map((a) => a.join(',')) },
    { weight: 1, arbitrary: fc.array(numberText, { maxLength: 6 }).map((a) => a.join(',')) },
    { weight: 1, arbitrary: hostileString() },
  );
  const point = fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(numberText, numberText, fc.option(fc.constantFrom('0', '1', '2', '-1', 'a', '')))
        .map(([x, y, l]) => [x, y, ...(l === null ? [] : [l])].join(',')),
    },
    { weight: 1, arbitrary: hostileString() },
  );
  const query = fc.oneof(
    {
      weight: 8,
      arbitrary: fc
        .record({
          box: fc.option(box, { freq: 3 }),
          points: fc.array(point, { maxLength: 3 }),
          multimask: fc.option(fc.constantFrom('1', 'true', '0', 'yes', '')),
          extra: fc.option(
            fc.tuple(
              fc.oneof(fc.constantFrom('task', 'box', 'patient', 'Box'), hostileString()),
              hostileString(),
            ),
            { freq: 5 },
          ),
        })
        .map((q) => {
          const kv: [string, string][] = [];
          if (q.box !== null) kv.push(['box', q.box]);
          for (const p of q.points) kv.push(['point', p]);
          if (q.multimask !== null) kv.push(['multimask', q.multimask]);
          if (q.extra) kv.push(q.extra);
          return kv.length
            ? '?' + kv.map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`).join('&')
            : '';
        }),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom('?', '?%', '?box', '?box=&box=', '?box=%FF', '?box=%ED%A0%80', '?&&=&'),
    },
  );

  const target = fc.oneof(
    { weight: 12, arbitrary: query.map((q) => `/v1/segment${q}`) },
    { weight: 1, arbitrary: fc.constantFrom('/healthz', '/healthz?x=1') },
    {
      weight: 1,
      arbitrary: fc.oneof(
        fc.constantFrom(
          '/',
          '*',
          '/v1/segment/',
          '//v1/segment',
          '/V1/SEGMENT',
          '/v1/segment%00',
          '/%ED%A0%80',
          'http://localhost/v1/segment?box=1,1,5,5',
          'http://[',
          '//[',
          '/\\\\x',
          `/${'a'.repeat(9000)}`,
        ),
        hostileString().map((s) => `/${percentEncode(s)}`),
      ),
    },
  );

  /** Requests a client means: a valid image, a prompt inside it. Each costs a model run (about 0.5 s). */
  const plausible = sizedImage(100).chain((img) =>
    fc.record({
      method: fc.constant('POST'),
      target: fc
        .tuple(
          fc.integer({ min: 0, max: img.w - 1 }),
          fc.integer({ min: 0, max: img.w - 1 }),
          fc.integer({ min: 0, max: img.h - 1 }),
          fc.integer({ min: 0, max: img.h - 1 }),
          fc.array(fc.tuple(fc.integer({ min: 0, max: img.w - 1 }), fc.integer({ min: 0, max: img.h - 1 })), {
            maxLength: 2,
          }),
          fc.boolean(),
          fc.boolean(),
        )
        .map(([x0, x1, y0, y1, points, withBox, multimask]) => {
          const q = points.map(([x, y]) => `point=${x},${y}`);
          if (withBox || q.length === 0)
            q.push(`box=${Math.min(x0, x1)},${Math.min(y0, y1)},${Math.max(x0, x1)},${Math.max(y0, y1)}`);
          if (multimask) q.push('multimask=1');
          return `/v1/segment?${q.join('&')}`;
        }),
      body: fc.constant(labelledBytes(img.bytes)),
      contentType: fc.constant<string | undefined>(img.type),
      accept: fc.option(fc.constantFrom('image/png', 'application/json', '*/*')),
      chunked: fc.option(fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 6 }), {
        freq: 3,
      }),
      extra: fc.constant<[string, string][]>([]),
    }),
  );

  const hostile = fc.record({
    method: fc.oneof(
      { weight: 14, arbitrary: fc.constant('POST') },
      { weight: 1, arbitrary: fc.constantFrom('GET', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH') },
    ),
    target,
    body: imageBody,
    contentType: fc.oneof(
      { weight: 10, arbitrary: fc.constantFrom<string | undefined>('image/png', 'image/jpeg') },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          'image/png; charset=binary',
          'IMAGE/PNG',
          'image/gif',
          'application/octet-stream',
          'multipart/form-data; boundary=x',
          '',
        ),
      },
      { weight: 1, arbitrary: headerValue() },
      { weight: 1, arbitrary: fc.constant(undefined) },
    ),
    accept: fc.option(
      fc.oneof(
        fc.constantFrom(
          'image/png',
          'application/json',
          '*/*',
          'image/png;q=0',
          'text/html, image/png',
          'image/*',
        ),
        headerValue(),
      ),
    ),
    chunked: fc.option(fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 6 }), {
      freq: 4,
    }),
    extra: fc.oneof(
      { weight: 5, arbitrary: fc.constant<[string, string][]>([]) },
      {
        weight: 1,
        arbitrary: fc.array(
          fc.tuple(
            fc.constantFrom(
              'X-Casam-Task',
              'Authorization',
              'Expect',
              'Cookie',
              'Transfer-Encoding',
              'Connection',
            ),
            headerValue(),
          ),
          { minLength: 1, maxLength: 2 },
        ),
      },
    ),
  });

  const request = fc.oneof({ weight: 1, arbitrary: plausible }, { weight: 12, arbitrary: hostile });

  it('answers every request with a documented 200 or a 4xx with a documented code, never a 5xx', async () => {
    const started = Date.now();
    const run = await checkBounded(
      fc.asyncProperty(request, async (c) => {
        const headers: [string, string][] = [];
        if (c.contentType !== undefined) headers.push(['Content-Type', c.contentType]);
        if (c.accept !== null) headers.push(['Accept', c.accept]);
        headers.push(...c.extra);
        const req: RawRequest = {
          method: c.method,
          target: c.target,
          headers,
          body: c.body,
          framing: c.chunked ? { kind: 'chunked', sizes: c.chunked } : { kind: 'length' },
        };
        const o = await rawHttp(url, req, { timeoutMs: 20_000 });
        memory.tick();
        if (o.kind === 'answer') byStatus.set(o.status, (byStatus.get(o.status) ?? 0) + 1);
        const problem = answerProblem(o, c.method, c.target.split('?')[0]);
        if (problem) throw new Error(`${c.method} ${c.target.slice(0, 200)}: ${problem}`);
      }),
      { seed: SEED, numRuns: REQUEST_RUNS, timeLimitMs: TIME_LIMIT_MS, perRunTimeoutMs: 25_000 },
    );
    console.info(
      `[fuzz] serve requests: seed ${SEED}, ${run.numRuns}/${REQUEST_RUNS} runs in ${Date.now() - started} ms` +
        `${run.interrupted ? ' (time cap reached)' : ''}, statuses ` +
        JSON.stringify(Object.fromEntries([...byStatus].sort((a, b) => a[0] - b[0]))),
    );
    memory.ensureBaseline();
    expect(run.numRuns).toBeGreaterThanOrEqual(Math.min(REQUEST_RUNS, 40));
  });

  it('answers mis-framed bodies and malformed headers with a 4xx (or closes), never a 5xx', async () => {
    const started = Date.now();
    const run = await checkBounded(
      fc.asyncProperty(
        fc.oneof(
          fc.record({
            kind: fc.constant('length' as const),
            value: fc.oneof(
              fc.nat(3000).map(String),
              fc.constantFrom(
                '-1',
                'abc',
                '1e3',
                ' 5',
                '5, 6',
                String(MAX_REQUEST_BYTES + 1),
                '99999999999999999999',
              ),
            ),
            both: fc.boolean(),
          }),
          fc.record({
            kind: fc.constant('header' as const),
            name: fc.constantFrom('Content-Type', 'Accept', 'X-Other'),
            value: malformedHeaderValue(),
          }),
        ),
        sizedImage(120).map((i) => i.bytes),
        async (c, body) => {
          const headers: [string, string][] = [['Content-Type', 'image/png']];
          let framing: RawRequest['framing'] = { kind: 'length' };
          let halfClose = false;
          if (c.kind === 'length') {
            framing = c.both ? { kind: 'both', value: c.value } : { kind: 'declared', value: c.value };
            // Declared longer than sent: we end our side, so the server sees the body cut short.
            halfClose = /^\s*\d+\s*$/.test(c.value) && Number(c.value) > body.length;
          } else headers.push([c.name, c.value]);
          const o = await rawHttp(
            url,
            { method: 'POST', target: '/v1/segment?box=0,0,0,0', headers, body, framing },
            { halfClose, timeoutMs: 20_000 },
          );
          memory.tick();
          // A body cut short can only be answered by closing; so can a request the HTTP parser gives up on.
          if (o.kind === 'closed') return;
          const problem = answerProblem(o, 'POST', '/v1/segment');
          if (problem) throw new Error(`${JSON.stringify(c).slice(0, 200)}: ${problem}`);
        },
      ),
      { seed: SEED + 1, numRuns: FRAMING_RUNS, timeLimitMs: TIME_LIMIT_MS / 2, perRunTimeoutMs: 25_000 },
    );
    console.info(
      `[fuzz] serve framing: seed ${SEED + 1}, ${run.numRuns}/${FRAMING_RUNS} runs in ${Date.now() - started} ms`,
    );
    expect(run.numRuns).toBeGreaterThanOrEqual(Math.min(FRAMING_RUNS, 20));
  });

  it('is still healthy afterwards, serves a normal request, logged no internal error and grew in memory within bounds', async () => {
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', bundleVersion: 1, queued: 0 });
    const ok = await fetch(`${url}/v1/segment?box=5,5,60,50`, {
      method: 'POST',
      body: new Uint8Array(png(80, 64, 9)),
      headers: { 'content-type': 'image/png' },
    });
    expect(ok.status).toBe(200);
    expect(logs.filter((l) => /internal error/.test(l))).toEqual([]);
    const grown = memory.growth();
    expect(grown, 'memory was measured').not.toBeNull();
    console.info(
      `[fuzz] serve memory over ${memory.requests - memory.warmup} requests after the warm-up: ` +
        `${formatGrowth(grown!)} (bounds: RSS ${RSS_GROWTH_BOUND / 2 ** 20} MiB, heap ${HEAP_GROWTH_BOUND / 2 ** 20} MiB)`,
    );
    expect(grown!.rss).toBeLessThan(RSS_GROWTH_BOUND);
    expect(grown!.heap).toBeLessThan(HEAP_GROWTH_BOUND);
  });
});
