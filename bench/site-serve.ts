/**
 * `serve` over HTTP for bench:site: the agent's own SegmentationServer, in this process, on loopback, with the
 * engine and routed segmenter it is given (ONNX Runtime or TF.js) and a bundle of N tasks held in memory (the
 * server takes its bundle from a loader; here the loader returns the benchmark's adapters instead of verifying a
 * signed bundle from disk, which only happens at start and on a swap, never per request). Each request POSTs a
 * PNG with a box, as a hospital application does, and waits for the JSON answer; the answer's Server-Timing
 * header says how much of that time the server spent, and on what.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { LoadedAdapter, RoutedSegmenter, SamEngine } from '@casam/casam-core';
import { type ActiveBundle, parseServerTiming, SegmentationServer } from '@casam/site-agent/testing';

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

/** One answer: the client's wall time and the server's own account of it (its Server-Timing header). */
export interface TimedRequest {
  /** ms from sending the PNG to having the whole JSON answer. */
  ms: number;
  /** Server-Timing steps in ms (read, decode-image, wait, embed, route, align, decode, encode, total). */
  server: Record<string, number>;
}

/** One request with fetch() (undici) in this process, as before. */
export async function timeRequest(s: RunningServe, png: Uint8Array, box: string): Promise<TimedRequest> {
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
  return { ms, server: parseServerTiming(r.headers.get('server-timing')) };
}

/**
 * A node:http client with a keep-alive agent (one socket reused), as a hospital application's HTTP library
 * sends requests; the answer's body is read whole and parsed as JSON, as before.
 */
const CLIENT_SOURCE = `
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function once(url, png) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'image/png', 'content-length': png.length } }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => {
        const body = JSON.parse(Buffer.concat(parts).toString('utf8'));
        const ms = performance.now() - t0;
        if (res.statusCode !== 200 || !body.maskPng) return reject(new Error('serve answered ' + res.statusCode));
        resolve({ ms, serverTiming: res.headers['server-timing'] ?? '' });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(png);
  });
}
`;

type NodeHttpClient = (url: string, png: Uint8Array) => Promise<{ ms: number; serverTiming: string }>;
const nodeHttpOnce = new Function('require', `${CLIENT_SOURCE}; return once;`)(
  createRequire(__filename),
) as NodeHttpClient;

/** One request with node:http + a keep-alive agent, in this process. */
export async function timeRequestNodeHttp(
  s: RunningServe,
  png: Uint8Array,
  box: string,
): Promise<TimedRequest> {
  const r = await nodeHttpOnce(`${s.url}/v1/segment?box=${box}`, png);
  return { ms: r.ms, server: parseServerTiming(r.serverTiming) };
}

/**
 * `count` requests one after another with `client` in this process, after one that warms the connection (not
 * returned).
 */
export async function timeRequestsInProcess(
  client: (s: RunningServe, png: Uint8Array, box: string) => Promise<TimedRequest>,
  s: RunningServe,
  png: Uint8Array,
  box: string,
  count: number,
): Promise<TimedRequest[]> {
  const out: TimedRequest[] = [];
  for (let i = 0; i < count + 1; i++) out.push(await client(s, png, box));
  return out.slice(1);
}

/**
 * `count` requests, one after another, from a separate Node process (node:http + keep-alive agent): the client's
 * work runs outside the server's event loop and heap, as a hospital application's does (on the same 2 cores).
 */
export async function timeRequestsFromChild(
  s: RunningServe,
  png: Uint8Array,
  box: string,
  count: number,
): Promise<TimedRequest[]> {
  const script = `${CLIENT_SOURCE}
(async () => {
  const png = Buffer.from(process.env.PNG_B64, 'base64');
  const out = [];
  for (let i = 0; i < ${count}; i++) out.push(await once(process.env.URL, png));
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });`;
  const child = spawn(process.execPath, ['-e', script], {
    env: {
      ...process.env,
      URL: `${s.url}/v1/segment?box=${box}`,
      PNG_B64: Buffer.from(png).toString('base64'),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  if (code !== 0) throw new Error(`${s.label} serve client process exited with ${code}`);
  return (JSON.parse(stdout) as { ms: number; serverTiming: string }[]).map((r) => ({
    ms: r.ms,
    server: parseServerTiming(r.serverTiming),
  }));
}
