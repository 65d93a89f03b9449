import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAdapterFile } from '@casam/casam-core';
import { writeDomainFolder } from '@casam/casam-lab';
import { agentCli, initOfflineHome, writeRandomTinyModel } from '../testing/agent-cli.testing';

describe('site-agent init → ingest → train (real CLI processes, random tiny base model)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-agent-train-'));
  const home = join(dir, 'home');
  const data = join(dir, 'polyps');
  const weights = join(dir, 'tiny.safetensors');
  beforeAll(async () => {
    writeRandomTinyModel(weights);
    await writeDomainFolder(data, 'polyp-endoscopy', {
      count: 16,
      size: 128,
      seed: 3,
      preview: false,
    });
    await initOfflineHome(home, 'Test', weights);
  }, 60_000); // a data set and a CLI process: well over the default 10 s on a loaded 2-core machine
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('ingest reports bad files one by one and indexes the rest', async () => {
    // Break one image and empty one mask: both reported, the other items kept.
    const manifest = JSON.parse(readFileSync(join(data, 'manifest.json'), 'utf8')) as {
      items: { image: string; masks: { path: string }[] }[];
    };
    writeFileSync(join(data, manifest.items[0].image), 'not a png');
    const r = await agentCli(home, ['ingest', '--task', 'polyps', '--folder', data]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/problem \[unreadable, item-skipped\]/);
    expect(r.stdout).toMatch(/task polyps: 15 usable item\(s\)/);
    const task = JSON.parse(readFileSync(join(home, 'tasks', 'polyps', 'task.json'), 'utf8')) as {
      counts: { problems: number };
    };
    expect(task.counts.problems).toBeGreaterThanOrEqual(1);
    const bad = await agentCli(home, ['ingest', '--task', '../etc', '--folder', data]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/task name/);
    const missing = await agentCli(home, ['ingest', '--task', 'x', '--folder', join(dir, 'nope')]);
    expect(missing.code).toBe(3);
  });

  it('train refuses fewer than 32 training images without --force, saying why', async () => {
    const r = await agentCli(home, ['train', '--task', 'polyps', '--max-images', '6']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/task polyps has 6 training images; τ calibrated from fewer than 32 .*--force/);
    expect(existsSync(join(home, 'tasks', 'polyps', 'adapter.safetensors'))).toBe(false);
  });

  it('train writes a valid adapter with validation metrics, and a second run resumes from the finished phases', async () => {
    const args = [
      'train',
      '--force',
      '--task',
      'polyps',
      '--epochs',
      '1',
      '--vae-epochs',
      '2',
      '--max-images',
      '6',
    ];
    const r = await agentCli(home, args);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/validation IoU \d\.\d{3} \(frozen SAM \d\.\d{3}, box-fill \d\.\d{3}\)/);
    const adapterFile = join(home, 'tasks', 'polyps', 'adapter.safetensors');
    expect(existsSync(adapterFile)).toBe(true);
    const adapter = readAdapterFile(new Uint8Array(readFileSync(adapterFile)));
    expect(adapter.metadata).toMatchObject({
      taskId: 'polyps',
      channels: 64,
      baseModel: { preset: 'casam-tiny' },
    });
    const again = await agentCli(home, args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/align: done in an earlier run/);
    expect(adapter.metadata.version).toBe(1);

    // With a decoder delta: a version 2 adapter carrying the LoRA of the rank asked for.
    const lora = await agentCli(home, [...args, '--restart', '--decoder-lora', '--lora-rank', '2']);
    expect(lora.code, lora.stderr).toBe(0);
    const v2 = readAdapterFile(new Uint8Array(readFileSync(adapterFile)));
    expect(v2.metadata.version).toBe(2);
    expect(v2.metadata.decoderLora).toMatchObject({ rank: 2, alpha: 2 });
    const bad = await agentCli(home, ['train', '--task', 'polyps', '--lora-rank', '2']);
    expect([bad.code, bad.stderr.trim()]).toEqual([
      2,
      'site-agent: error: --lora-rank and --lora-alpha go with --decoder-lora',
    ]);

    // τ at another percentile of the same held-out scores: nothing is trained again.
    const loraArgs = [...args, '--decoder-lora', '--lora-rank', '2'];
    const p99 = await agentCli(home, [...loraArgs, '--tau-percentile', '99']);
    expect(p99.code, p99.stderr).toBe(0);
    expect(p99.stderr).toMatch(/align: done in an earlier run/);
    expect(p99.stderr).toMatch(/tau: done in an earlier run/);
    expect(p99.stdout).toMatch(/τ \d+\.\d{4} \(p99\)/);
    const tau = readAdapterFile(new Uint8Array(readFileSync(adapterFile))).metadata.tau;
    expect([tau.percentile, tau.tau, tau.p95, tau.p99]).toEqual([
      99,
      v2.metadata.tau.p99,
      v2.metadata.tau.p95,
      v2.metadata.tau.p99,
    ]);
    expect(v2.metadata.tau.percentile).toBe(97);
    const task = JSON.parse(readFileSync(join(home, 'tasks', 'polyps', 'task.json'), 'utf8')) as {
      training: { tau: number; tauPercentile: number };
    };
    expect(task.training).toMatchObject({ tau: tau.tau, tauPercentile: 99 });
    for (const value of ['50', 'x', '100.5']) {
      const r = await agentCli(home, ['train', '--task', 'polyps', '--tau-percentile', value]);
      expect([r.code, r.stderr.trim()]).toEqual([
        2,
        `site-agent: error: --tau-percentile must be a number from 80 to 100, got "${value}"`,
      ]);
    }
  }, 420_000);
});
