import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, encodeRgbPng } from '@casam/casam-core';
import { rawHttp } from '@casam/protocol/testing';
import type { ActiveBundle } from '../bundle/installed-bundle';
import { SegmentationServer, type SegmentResponseJson } from './segmentation-server';
import { parseServerTiming, SERVER_TIMING_STEPS } from './server-timing';
import {
  initTestBackend,
  startTestSegmentationServer,
  testBundle,
} from '../testing/segmentation-server.testing';

describe('SegmentationServer (real HTTP)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-serve-'));
  const pointer = join(dir, 'current.json');
  let server: SegmentationServer;
  let url: string;
  let next: ActiveBundle | null = null;
  const logs: string[] = [];
  const png = encodeRgbPng({
    width: 80,
    height: 64,
    data: new Uint8Array(80 * 64 * 3).map((_, i) => (i * 7) % 255),
  });

  beforeAll(async () => {
    await initTestBackend(); // the bundle's adapter is built on it
    next = testBundle(1, 1e9);
    ({ server, url } = await startTestSegmentationServer({
      dir,
      logs,
      loadBundle: async () => next,
      maxRequestBytes: 64 * 1024,
      maxImagePixels: 100 * 100,
      watchIntervalMs: 50,
    }));
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (
    query: string,
    body: Uint8Array | string,
    headers: Record<string, string> = { 'content-type': 'image/png' },
  ) => fetch(`${url}/v1/segment${query}`, { method: 'POST', body, headers });

  it('segments a PNG: mask at the image size plus the routing decision', async () => {
    const r = await post('?box=5,5,60,50', png);
    expect(r.status).toBe(200);
    const j = (await r.json()) as SegmentResponseJson;
    expect(j).toMatchObject({
      decision: 'task',
      taskId: 'liver',
      taskName: 'Liver CT',
      bundleVersion: 1,
      width: 80,
      height: 64,
    });
    const mask = decodeImage(new Uint8Array(Buffer.from(j.maskPng, 'base64')));
    expect([mask.width, mask.height]).toEqual([80, 64]);
  });

  it('answers with the PNG itself when asked, the decision in a header', async () => {
    const r = await post('?point=40,30,1', png, { 'content-type': 'image/png', accept: 'image/png' });
    expect(r.headers.get('content-type')).toBe('image/png');
    expect(JSON.parse(r.headers.get('x-casam-decision')!)).toMatchObject({ taskId: 'liver' });
  });

  it('says where its time went in a Server-Timing header: every step, consistent with the total and the wall time', async () => {
    for (const accept of ['application/json', 'image/png']) {
      const t0 = performance.now();
      const r = await post('?box=5,5,60,50', png, { 'content-type': 'image/png', accept });
      const wall = performance.now() - t0;
      expect(r.status).toBe(200);
      const header = r.headers.get('server-timing');
      expect(header).toMatch(/^read;dur=[\d.]+, decode-image;dur=[\d.]+, wait;dur=/);
      const t = parseServerTiming(header);
      expect(Object.keys(t)).toEqual([...SERVER_TIMING_STEPS, 'total']);
      for (const v of Object.values(t)) expect(v).toBeGreaterThanOrEqual(0);
      const steps = SERVER_TIMING_STEPS.reduce((acc, s) => acc + t[s], 0);
      // Disjoint spans, each rounded to 0.01 ms: their sum is at most the total (up to that rounding).
      expect(steps).toBeLessThanOrEqual(t.total + 0.01 * SERVER_TIMING_STEPS.length);
      expect(t.total).toBeLessThanOrEqual(wall);
      if (accept === 'application/json') {
        // The segmenter's steps are the ones the JSON answer reports.
        const j = (await r.json()) as SegmentResponseJson;
        expect(t.embed).toBeCloseTo(j.timingsMs.embedMs, 1);
        expect(t.decode).toBeCloseTo(j.timingsMs.decodeMs, 1);
      } else await r.arrayBuffer();
    }
    // Error answers carry none.
    const bad = await post('?box=5,5', png);
    expect(bad.status).toBe(400);
    expect(bad.headers.get('server-timing')).toBeNull();
  });

  it('gives clear 4xx for bad input', async () => {
    const cases: [Promise<Response>, number, string][] = [
      [post('?box=5,5,60,50', 'not an image'), 400, 'bad_image'],
      [post('?box=5,5', png), 400, 'bad_prompt'],
      [post('?box=5,5,500,50', png), 400, 'bad_prompt'],
      [post('', png), 400, 'bad_prompt'],
      [post('?box=1,1,2,2&patient=x', png), 400, 'bad_prompt'],
      [post('?box=5,5,60,50', png, { 'content-type': 'text/plain' }), 415, 'unsupported_media_type'],
      [post('?box=5,5,60,50', new Uint8Array(100 * 1024), { 'content-type': 'image/png' }), 413, 'too_large'],
      [fetch(`${url}/v1/segment`), 405, 'method_not_allowed'],
      [fetch(`${url}/nope`), 404, 'not_found'],
    ];
    for (const [p, status, code] of cases) {
      const r = await p;
      expect(r.status, code).toBe(status);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe(code);
    }
  });

  it('picks up a newly installed bundle between requests, without failing any', async () => {
    next = testBundle(2, -1e9); // a bundle whose only task refuses everything
    writeFileSync(pointer, '{"v":2}');
    const results = await Promise.all([
      post('?box=5,5,60,50', png),
      post('?box=5,5,60,50', png),
      post('?box=5,5,60,50', png),
    ]);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    const last = (await results[2].json()) as SegmentResponseJson;
    expect(last).toMatchObject({ bundleVersion: 2, decision: 'fallback', taskId: 'liver' });
    const health = (await (await fetch(`${url}/healthz`)).json()) as { bundleVersion: number; swaps: number };
    expect(health).toMatchObject({ bundleVersion: 2, swaps: 1 });
  });
  it('answers image mode with any task name: the decision header is ASCII JSON that parses to the JSON mode decision', async () => {
    for (const name of ['🫁 lungs', '肺 CT', 'Лёгкие', 'πνεύμονες', 'Crâne']) {
      next = testBundle(10, 1e9, name);
      writeFileSync(pointer, JSON.stringify({ name }));
      const r = await post('?box=5,5,60,50', png, { 'content-type': 'image/png', accept: 'image/png' });
      expect(r.status, name).toBe(200);
      expect(r.headers.get('content-type')).toBe('image/png');
      const header = r.headers.get('x-casam-decision')!;
      expect(header).toMatch(/^[\x20-\x7e]+$/);
      expect(JSON.parse(header)).toMatchObject({ taskName: name, bundleVersion: 10 });
      // JSON mode is unchanged: the name as it is, in UTF-8.
      const j = await post('?box=5,5,60,50', png);
      expect(((await j.json()) as SegmentResponseJson).taskName).toBe(name);
    }
  });

  it('answers 413 too_large to an over-limit chunked body instead of resetting the connection', async () => {
    // Node's http client sends a body of unknown length chunked: no Content-Length for the server to refuse early.
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        `${url}/v1/segment?box=5,5,60,50`,
        { method: 'POST', headers: { 'content-type': 'image/png' } },
        (r) => {
          let body = '';
          r.on('data', (d: Buffer) => (body += d.toString()));
          r.on('end', () => resolve({ status: r.statusCode!, body }));
        },
      );
      req.on('error', reject);
      const chunk = new Uint8Array(16 * 1024);
      let sent = 0;
      const write = (): void => {
        while (sent < 2 * 1024 * 1024) {
          sent += chunk.byteLength;
          if (!req.write(chunk)) return void req.once('drain', write);
        }
        req.end();
      };
      write();
    });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'too_large' } });
    // …and the server still serves.
    expect((await post('?box=5,5,60,50', png)).status).toBe(200);
  });

  // Found by serve.fuzz.spec.ts: each such request was logged as `internal error: Error: aborted` with a stack.
  it('takes a client that hangs up in the middle of the body for a cut-short image, not an internal error', async () => {
    const failed = server.stats.failed;
    const logged = logs.length;
    const { port } = new URL(url);
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(Number(port), '127.0.0.1', () => {
        s.write(
          'POST /v1/segment?box=5,5,60,50 HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n' +
            'Content-Length: 1000\r\n\r\n',
        );
        s.write(Buffer.from(png).subarray(0, 100));
        // Hang up once the server is reading the body.
        setTimeout(() => s.destroy(), 200);
      });
      s.on('close', () => resolve());
      s.on('error', reject);
    });
    for (let i = 0; i < 100 && server.stats.failed === failed; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(server.stats.failed).toBe(failed + 1);
    expect(logs.slice(logged).filter((l) => /internal error/.test(l))).toEqual([]);
    expect((await post('?box=5,5,60,50', png)).status).toBe(200);
  });

  // Found by serve.fuzz.spec.ts: `new URL` threw on these targets and the answer was a 500 `internal`.
  it('answers a request target that is not a URL with 404 not_found, not an internal error', async () => {
    const logged = logs.length;
    for (const target of ['http://[', '//[']) {
      const o = await rawHttp(url, { method: 'POST', target, headers: [] });
      expect(o.kind === 'answer' && o.status, target).toBe(404);
      if (o.kind === 'answer')
        expect(JSON.parse(o.body.toString())).toMatchObject({
          error: { code: 'not_found', message: expect.stringContaining('is not a URL') },
        });
    }
    expect(logs.slice(logged).filter((l) => /internal error/.test(l))).toEqual([]);
  });

  it('refuses an image over the server pixel limit from its header, as bad_image', async () => {
    const big = encodeRgbPng({ width: 120, height: 100, data: new Uint8Array(120 * 100 * 3) });
    const r = await post('?box=5,5,60,50', big);
    expect(r.status).toBe(400);
    const e = (await r.json()) as { error: { code: string; message: string } };
    expect(e.error.code).toBe('bad_image');
    expect(e.error.message).toMatch(/120×100 is larger than the 10000-pixel limit/);
  });

  it('refuses, as bad_image, an image whose short side would scale to 0 px at the model input', async () => {
    // A 700×1 strip: at the 256-px input it would be 256×0 pixels (it used to reach the model and fail as a 500).
    const strip = encodeRgbPng({ width: 700, height: 1, data: new Uint8Array(700 * 3).fill(80) });
    const logged = logs.length;
    const r = await post('?box=0,0,10,0', strip);
    expect(r.status).toBe(400);
    const e = (await r.json()) as { error: { code: string; message: string } };
    expect(e.error.code).toBe('bad_image');
    expect(e.error.message).toMatch(/1×700 image is too elongated: .*0×256 pixels .*at least 2 px/);
    expect(logs.slice(logged).filter((l) => /internal error/.test(l))).toEqual([]);
  });

  it('takes box corners as inclusive pixel indices: the tight box of a 1-pixel-wide region is accepted', async () => {
    // A one-pixel-wide vertical line at x = 40 from y = 10 to 50: its tight box, as training computes it.
    expect((await post('?box=40,10,40,50', png)).status).toBe(200);
    expect((await post('?box=40,10,41,10', png)).status).toBe(200);
    expect((await post('?box=0,0,79,63', png)).status).toBe(200); // the whole 80×64 image
    for (const [box, msg] of [
      ['0,0,80,64', /outside the 80×64 image.*0\.\.79.*0\.\.63/],
      ['41,10,40,50', /x0 ≤ x1 and y0 ≤ y1/],
    ] as const) {
      const r = await post(`?box=${box}`, png);
      expect(r.status, box).toBe(400);
      expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(msg);
    }
    const p = await post('?point=80,10', png);
    expect(p.status).toBe(400);
  });

  it('swaps a newly installed bundle in the background: /healthz shows it with no segment request', async () => {
    next = testBundle(20, 1e9);
    writeFileSync(pointer, JSON.stringify({ v: 20 }));
    let version: number | null = null;
    for (let i = 0; i < 100 && version !== 20; i++) {
      await new Promise((r) => setTimeout(r, 50));
      version = ((await (await fetch(`${url}/healthz`)).json()) as { bundleVersion: number }).bundleVersion;
    }
    expect(version).toBe(20);
  });
});

describe('SegmentationServer when the bundle loader throws (real HTTP)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-serve-throw-'));
  const pointer = join(dir, 'current.json');
  const png = encodeRgbPng({ width: 64, height: 48, data: new Uint8Array(64 * 48 * 3).fill(90) });
  let load: () => Promise<ActiveBundle | null> = async () => {
    throw new Error('state.json is corrupt');
  };
  const logs: string[] = [];
  let server: SegmentationServer;
  let url: string;
  beforeAll(async () => {
    ({ server, url } = await startTestSegmentationServer({
      dir,
      logs,
      loadBundle: () => load(),
      maxRequestBytes: 64 * 1024,
      watchIntervalMs: 50,
    }));
  }, 60_000);
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const segment = async () =>
    (await (
      await fetch(`${url}/v1/segment?box=4,4,40,30`, {
        method: 'POST',
        body: png,
        headers: { 'content-type': 'image/png' },
      })
    ).json()) as SegmentResponseJson;

  it('serves frozen SAM when nothing could be loaded at start, and keeps a loaded bundle when a reload fails', async () => {
    expect(await segment()).toMatchObject({ decision: 'fallback', bundleVersion: null });
    expect(logs.join('\n')).toMatch(/warning: could not load the installed bundle, serving frozen SAM/);
    load = async () => testBundle(3, 1e9);
    writeFileSync(pointer, '{"v":3}');
    expect(await segment()).toMatchObject({ decision: 'task', bundleVersion: 3 });
    load = async () => {
      throw new Error('disk error');
    };
    writeFileSync(pointer, '{"v":4}');
    expect(await segment()).toMatchObject({ decision: 'task', bundleVersion: 3 });
    expect(logs.join('\n')).toMatch(/the one loaded before keeps serving: disk error/);
  });
});
