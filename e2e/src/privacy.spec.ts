import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDomainFolder } from '@casam/casam-lab';
import { expectedAdapterSchema, validateAdapterFile } from '@casam/protocol';
import { type CoordinatorProcess, startCoordinatorProcess } from './support/coordinator-process';
import { clientTextFrames, RecordingProxy } from './support/recording-proxy';
import { agentRunner, enrollApprovedSite, uploadedAdapterId, writeTinyBaseModel } from './support/site-setup';
import { QUICK_TRAIN_FLAGS } from './support/site-agent-cli';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

interface EgressLine {
  type: string;
  method: string;
  target: string;
  bytes: number;
  sha256: string;
}

/**
 * Privacy as a mechanism: a site's whole flow runs through a proxy that records every byte the agent sends.
 * Every HTTP request and every socket message on the wire must be one the agent's egress log declares (same
 * type of message, same bytes), and the only binary payload is the adapter file — weights in the exact schema,
 * no image in sight.
 */
describe('privacy: the bytes a site sends are exactly its declared messages and its weights', () => {
  let coord: CoordinatorProcess;
  let proxy: RecordingProxy;
  const dir = mkdtempSync(join(tmpdir(), 'casam-e2e-privacy-'));
  const home = join(dir, 'agent');
  const weights = join(dir, 'tiny.safetensors');
  const data = join(dir, 'prostate');
  const agent = agentRunner(home);

  beforeAll(async () => {
    writeTinyBaseModel(weights, 8);
    await writeDomainFolder(data, 'promise12-prostate-mr', { count: 12, size: 128, seed: 6, preview: false });
    coord = await startCoordinatorProcess();
    proxy = new RecordingProxy(coord.url);
    const proxyUrl = await proxy.start();
    await enrollApprovedSite(coord, home, agent, { coordinatorUrl: proxyUrl, siteName: 'Radium', weights });
    await agent(['ingest', '--task', 'prostate', '--folder', data]);
    const taskId = /as ([0-9a-f-]{36})/.exec((await agent(['propose', '--task', 'prostate'])).stdout)![1];
    await coord.admin('POST', `/api/v1/tasks/${taskId}/approve`);
    await agent(['train', '--task', 'prostate', ...QUICK_TRAIN_FLAGS]);
    await agent(['upload', '--task', 'prostate', '--chunk-size', '65536', '--force']);
    const adapterId = uploadedAdapterId(home, 'prostate');
    await coord.admin('POST', `/api/v1/adapters/${adapterId}/approve`);
    await agent(['pull']);
  });
  afterAll(async () => {
    await proxy?.close();
    await coord?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every HTTP request on the wire is a declared message, byte for byte, in order', () => {
    const log: EgressLine[] = readFileSync(join(home, 'egress.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => {
        const f = l.split('\t');
        return { type: f[1], method: f[2], target: f[3], bytes: Number(f[4]), sha256: f[5] };
      });
    const http = log.filter((r) => r.method !== 'EMIT' && !r.type.startsWith('refused:'));
    expect(proxy.requests.length).toBe(http.length);
    proxy.requests.forEach((req, i) => {
      expect({ method: req.method, url: req.url, bytes: req.body.length, sha256: sha(req.body) }).toEqual({
        method: http[i].method,
        url: http[i].target,
        bytes: http[i].bytes,
        sha256: http[i].sha256,
      });
    });
  });

  it('every socket message on the wire is a declared one', () => {
    const log = readFileSync(join(home, 'egress.log'), 'utf8');
    const declared = new Set(
      log
        .trim()
        .split('\n')
        .map((l) => l.split('\t'))
        .filter((f) => f[2] === 'EMIT')
        .map((f) => f[5]),
    );
    let connects = 0;
    let events = 0;
    for (const ws of proxy.sockets)
      for (const frame of clientTextFrames(ws.clientBytes)) {
        // Protocol control without payload: engine.io ping/pong/close, socket.io namespace disconnect.
        if (['2', '3', '1', '41/v1,'].includes(frame)) continue;
        const connect = /^40\/v1,(.*)$/s.exec(frame);
        if (connect) {
          expect(declared.has(sha(connect[1]))).toBe(true);
          connects++;
          continue;
        }
        const event = /^42\/v1,\d*(\[.*\])$/s.exec(frame);
        expect(event, `undeclared socket frame: ${frame.slice(0, 80)}`).not.toBeNull();
        const [, payload] = JSON.parse(event![1]) as [string, unknown];
        expect(declared.has(sha(JSON.stringify(payload)))).toBe(true);
        events++;
      }
    expect(connects).toBeGreaterThan(0);
    expect(events).toBeGreaterThan(0);
  });

  it('the only binary payload is the adapter file: weights in the exact schema, no image bytes anywhere', () => {
    const chunks = proxy.requests
      .filter((r) => r.method === 'PUT')
      .map((r) => ({ index: Number(/chunks\/(\d+)$/.exec(r.url)![1]), body: r.body }))
      .sort((a, b) => a.index - b.index);
    const file = Buffer.concat(chunks.map((c) => c.body));
    const adapter = validateAdapterFile(new Uint8Array(file), { channels: 64 });
    const names = [
      ...adapter.align.map((t) => `align.${t.name}`),
      ...adapter.vae.map((t) => `vae.${t.name}`),
    ].sort();
    expect(names).toEqual(
      expectedAdapterSchema(64)
        .map((s) => s.name)
        .sort(),
    );
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    for (const r of proxy.requests) expect(r.body.includes(png)).toBe(false);
    for (const ws of proxy.sockets) expect(ws.clientBytes.includes(png)).toBe(false);
  });
});
