/**
 * `serve` over HTTP for bench:site: the agent's own SegmentationServer, in this process, on loopback, with the
 * engine and routed segmenter it is given (ONNX Runtime or TF.js) and a bundle of N tasks held in memory (the
 * server takes its bundle from a loader; here the loader returns the benchmark's adapters instead of verifying a
 * signed bundle from disk, which only happens at start and on a swap, never per request). Each request POSTs a
 * PNG with a box, as a hospital application does, and waits for the JSON answer.
 */
import { join } from 'node:path';
import type { LoadedAdapter, RoutedSegmenter, SamEngine } from '@casam/casam-core';
import { type ActiveBundle, SegmentationServer } from '@casam/site-agent/testing';

export interface ServeTarget {
  label: string;
  engine: SamEngine;
  createSegmenter: (adapters: LoadedAdapter[]) => Promise<RoutedSegmenter>;
  adapters: () => LoadedAdapter[];
}

export interface RunningServe {
  label: string;
  url: string;
  close(): Promise<void>;
}

export async function startServe(t: ServeTarget, workDir: string): Promise<RunningServe> {
  const server = new SegmentationServer({
    engine: t.engine,
    createSegmenter: t.createSegmenter,
    loadBundle: async () => {
      const adapters = t.adapters();
      return {
        installed: { version: 1 },
        manifest: { tasks: adapters.map((a) => ({ taskId: a.taskId, name: a.taskId })) },
        adapters,
        names: new Map(adapters.map((a) => [a.taskId, a.taskId])),
      } as unknown as ActiveBundle;
    },
    bundlePointerFile: join(workDir, 'no-pointer.json'),
    host: '127.0.0.1',
    port: 0,
    maxRequestBytes: 32 * 1024 * 1024,
    watchIntervalMs: 3_600_000,
    log: () => undefined,
  });
  const url = await server.start();
  return { label: t.label, url, close: () => server.close() };
}

/** One request: wall time in ms from sending the PNG to having the whole JSON answer. */
export async function timeRequest(s: RunningServe, png: Uint8Array, box: string): Promise<number> {
  const t0 = performance.now();
  const r = await fetch(`${s.url}/v1/segment?box=${box}`, {
    method: 'POST',
    body: png,
    headers: { 'content-type': 'image/png' },
  });
  const body = (await r.json()) as { maskPng?: string; error?: { message: string } };
  const ms = performance.now() - t0;
  if (r.status !== 200 || !body.maskPng)
    throw new Error(`${s.label} serve answered ${r.status}: ${body.error?.message}`);
  return ms;
}
