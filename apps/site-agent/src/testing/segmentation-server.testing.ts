/**
 * Test kit for `serve`: a SegmentationServer on casam-tiny with seeded random weights (TF.js on wasm) listening
 * on a free loopback port, and an in-memory bundle of one task as the bundle loader hands it to the server.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildSam,
  createTfjsSamEngine,
  getPreset,
  initBackend,
  initialAlignmentStateDict,
  initialTaskVaeStateDict,
  loadAdapter,
  randomSamStateDict,
  writeAdapterFile,
} from '@casam/casam-core';
import type { ActiveBundle } from '../bundle/installed-bundle';
import { SegmentationServer, type SegmentationServerOptions } from '../serve/segmentation-server';

/**
 * Bundle `version` with one task `liver` named `name`, its Alignment Layer and VAE at their initial weights and
 * the given τ (1e9 accepts every image, -1e9 refuses every image: the fallback).
 */
export function testBundle(version: number, tau: number, name = 'Liver CT'): ActiveBundle {
  const bytes = writeAdapterFile({
    taskId: 'liver',
    baseModel: { preset: 'casam-tiny', fingerprint: 'sha256:' + 'ee'.repeat(32) },
    tau: { tau, p95: tau, p99: tau, mean: 1, std: 1, n: 5, percentile: 97 },
    align: initialAlignmentStateDict(64, 1),
    vae: initialTaskVaeStateDict(64, 1),
  });
  return {
    installed: { version, contentHash: 'x', file: 'x', installedAt: '', kid: 'k', taskCount: 1 },
    manifest: {
      tasks: [{ taskId: 'liver', name, adapterVersion: 3, targetStructures: ['liver'] }],
    } as ActiveBundle['manifest'],
    adapters: [loadAdapter(bytes, 64, 'liver')],
    names: new Map([['liver', name]]),
  };
}

export type TestServerOptions = Omit<
  SegmentationServerOptions,
  'engine' | 'bundlePointerFile' | 'host' | 'port' | 'log'
> & {
  /** Holds the bundle pointer file the server watches (`current.json`, written as `{}`). */
  dir: string;
  /** Every line the server logs is pushed here. */
  logs: string[];
};

/** TF.js on wasm, quietly (what the test server runs on; call it first to build a bundle before starting). */
export function initTestBackend(): Promise<unknown> {
  return initBackend({ prefer: 'wasm', log: () => undefined });
}

/** Starts the server (closed by the caller); its URL and the pointer file to touch to make it reload. */
export async function startTestSegmentationServer(
  o: TestServerOptions,
): Promise<{ server: SegmentationServer; url: string; pointer: string }> {
  const { dir, logs, ...rest } = o;
  await initTestBackend();
  const cfg = getPreset('casam-tiny');
  const pointer = join(dir, 'current.json');
  writeFileSync(pointer, '{}');
  const server = new SegmentationServer({
    engine: createTfjsSamEngine(buildSam(cfg, randomSamStateDict(cfg, 4))),
    bundlePointerFile: pointer,
    host: '127.0.0.1',
    port: 0,
    log: (l) => void logs.push(l),
    ...rest,
  });
  return { server, url: await server.start(), pointer };
}
