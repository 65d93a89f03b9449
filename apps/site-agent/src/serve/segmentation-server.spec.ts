import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildSam,
  createTfjsSamEngine,
  decodeImage,
  encodeRgbPng,
  getPreset,
  initBackend,
  loadAdapter,
  randomSamStateDict,
  writeAdapterFile,
  initialAlignmentStateDict,
  initialTaskVaeStateDict,
} from '@casam/casam-core';
import type { ActiveBundle } from '../bundle/installed-bundle';
import { SegmentationServer, type SegmentResponseJson } from './segmentation-server';

function bundleWith(version: number, tau: number): ActiveBundle {
  const bytes = writeAdapterFile({
    taskId: 'liver',
    baseModel: { preset: 'casam-tiny', fingerprint: 'sha256:' + 'ee'.repeat(32) },
    tau: { tau, p95: tau, p99: tau, mean: 1, std: 1, n: 5, percentile: 97 },
    align: initialAlignmentStateDict(64, 1),
    vae: initialTaskVaeStateDict(64, 1),
  });
  return {
    installed: { version, contentHash: 'x', file: 'x', installedAt: '', kid: 'k', taskCount: 1 },
    manifest: { tasks: [{ taskId: 'liver', name: 'Liver CT' }] } as ActiveBundle['manifest'],
    adapters: [loadAdapter(bytes, 64, 'liver')],
    names: new Map([['liver', 'Liver CT']]),
  };
}

describe('SegmentationServer (real HTTP)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-serve-'));
  const pointer = join(dir, 'current.json');
  let server: SegmentationServer;
  let url: string;
  let next: ActiveBundle | null = null;
  const png = encodeRgbPng({
    width: 80,
    height: 64,
    data: new Uint8Array(80 * 64 * 3).map((_, i) => (i * 7) % 255),
  });

  beforeAll(async () => {
    await initBackend({ prefer: 'wasm', log: () => undefined });
    next = bundleWith(1, 1e9);
    const cfg = getPreset('casam-tiny');
    writeFileSync(pointer, '{}');
    server = new SegmentationServer({
      engine: createTfjsSamEngine(buildSam(cfg, randomSamStateDict(cfg, 4))),
      loadBundle: async () => next,
      bundlePointerFile: pointer,
      host: '127.0.0.1',
      port: 0,
      maxRequestBytes: 64 * 1024,
      log: () => undefined,
    });
    url = await server.start();
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
    next = bundleWith(2, -1e9); // a bundle whose only task refuses everything
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
});
