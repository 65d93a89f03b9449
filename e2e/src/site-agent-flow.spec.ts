import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDomainFolder } from '@casam/casam-lab';
import {
  PROTOCOL_VERSION,
  REALTIME_NAMESPACE,
  type TaskSummary,
  type TrainingProgressEvent,
} from '@casam/protocol';
import { io } from 'socket.io-client';
import { type CoordinatorProcess, startCoordinatorProcess } from './support/coordinator-process';
import { siteAgent } from './support/site-agent-cli';
import { agentRunner, enrollApprovedSite, uploadedAdapterId, writeTinyBaseModel } from './support/site-setup';

/**
 * One hospital through the whole loop with real processes: enroll, ingest, propose, train, upload, admin
 * approvals, bundle publication, pull, routed segmentation; then a bundle altered on disk is refused.
 */
describe('site agent ↔ coordinator: from local data to a routed segmentation', () => {
  let coord: CoordinatorProcess;
  const dir = mkdtempSync(join(tmpdir(), 'casam-e2e-flow-'));
  const home = join(dir, 'agent');
  const weights = join(dir, 'tiny.safetensors');
  const data = join(dir, 'spleen');
  const env = { CASAM_BACKEND: 'wasm' };
  const agent = agentRunner(home);

  beforeAll(async () => {
    writeTinyBaseModel(weights, 5);
    await writeDomainFolder(data, 'msd-spleen-ct', { count: 14, size: 128, seed: 2, preview: false });
    coord = await startCoordinatorProcess();
  });
  afterAll(async () => {
    await coord?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('enrolls, trains, uploads, gets approved, pulls and segments with routing', async () => {
    const { siteId } = await enrollApprovedSite(coord, home, agent, { siteName: 'Haukeland', weights });

    await agent(['ingest', '--task', 'spleen', '--folder', data, '--modality', 'CT']);
    const proposed = await agent(['propose', '--task', 'spleen']);
    const taskId = /as ([0-9a-f-]{36})/.exec(proposed.stdout)![1];
    const before = await siteAgent(home, ['upload', '--task', 'spleen'], env);
    expect(before.code).toBe(2); // not trained yet: refused locally, nothing sent
    expect(before.stderr).toMatch(/no trained adapter/);
    await coord.admin('POST', `/api/v1/tasks/${taskId}/approve`);
    const task = await coord.admin<TaskSummary>('GET', `/api/v1/tasks/${taskId}`);
    expect(task.status).toBe('approved');

    // An admin watches the training live over the coordinator's socket.
    const admin = io(`${coord.url}${REALTIME_NAMESPACE}`, {
      transports: ['websocket'],
      auth: { token: await coord.adminToken(), protocolVersion: PROTOCOL_VERSION },
    });
    const progress: TrainingProgressEvent[] = [];
    admin.on('training.progress', (e: TrainingProgressEvent) => progress.push(e));
    await new Promise<void>((r) => admin.once('connect', () => r()));
    await agent([
      'train',
      '--force',
      '--task',
      'spleen',
      '--epochs',
      '1',
      '--vae-epochs',
      '3',
      '--max-images',
      '6',
    ]);
    await expect.poll(() => progress.some((p) => p.stage === 'done'), { timeout: 10_000 }).toBe(true);
    admin.disconnect();
    expect(progress.every((p) => p.siteId === siteId && p.taskId === taskId)).toBe(true);
    expect(new Set(progress.map((p) => p.stage))).toContain('training_align');
    const up = await agent(['upload', '--task', 'spleen', '--chunk-size', '65536', '--force']);
    expect(up.stdout).toMatch(/uploaded spleen: adapter version 1 .*pending/);
    const adapterId = uploadedAdapterId(home, 'spleen');
    expect((await agent(['pull'])).stdout).toMatch(
      /no bundle has been published yet|installed bundle \d+ \(0 task/,
    );

    await coord.admin('POST', `/api/v1/adapters/${adapterId}/approve`);
    const pulled = await agent(['pull']);
    expect(pulled.stdout).toMatch(/installed bundle \d+ \(1 task\(s\)/);
    expect((await agent(['pull'])).stdout).toMatch(/up to date/);

    const manifest = JSON.parse(readFileSync(join(data, 'manifest.json'), 'utf8')) as {
      items: { image: string }[];
    };
    const img = join(data, manifest.items[0].image);
    const seg = await agent([
      'segment',
      '--image',
      img,
      '--box',
      '20,20,100,100',
      '--out',
      join(dir, 'mask.png'),
      '--json',
    ]);
    const decision = JSON.parse(seg.stdout) as {
      decision: string;
      bundleVersion: number;
      scores: { taskId: string }[];
    };
    expect(['task', 'fallback']).toContain(decision.decision);
    expect(decision.scores.map((s) => s.taskId)).toEqual([taskId]);

    // Tamper with the installed bundle on disk: it is refused at load, and segmentation falls back.
    const bundles = join(home, 'bundles');
    const current = (
      JSON.parse(readFileSync(join(bundles, 'current.json'), 'utf8')) as { current: { file: string } }
    ).current.file;
    const bytes = readFileSync(join(bundles, current));
    bytes[bytes.length - 2000] ^= 0xff;
    writeFileSync(join(bundles, current), bytes);
    const after = await siteAgent(
      home,
      ['segment', '--image', img, '--box', '20,20,100,100', '--out', join(dir, 'mask2.png'), '--json'],
      env,
    );
    expect(after.code, after.stderr).toBe(0);
    expect(after.stderr).toMatch(/fails verification, not using it/);
    expect(JSON.parse(after.stdout)).toMatchObject({ scores: [] });

    const status = JSON.parse((await agent(['status', '--json'])).stdout) as {
      egress: Record<string, unknown>;
    };
    // Only declared message types left the site, and each of the flow's steps shows up.
    expect(Object.keys(status.egress).sort()).toEqual([
      'enroll',
      'propose_task',
      'read_bundle',
      'read_jwks',
      'site_token',
      'socket_connect',
      'socket_training_progress',
      'upload_chunk',
      'upload_complete',
      'upload_create',
    ]);
  });
});
