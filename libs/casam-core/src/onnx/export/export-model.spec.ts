import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getPreset } from '../../sam/config';
import { stripPrefix } from '../../casam/state-dict-check';
import { HostTensor, StateDict } from '../../tensor/host-tensor';
import { fixtureTensor, loadFixture } from '../../testing/fixtures';
import { stateDictFingerprint } from '../../weights/fingerprint';
import { OnnxSamEngine, createOnnxSamEngine } from '../onnx-sam-engine';
import {
  ONNX_EXPORTER_VERSION,
  ONNX_MANIFEST_FILE,
  OnnxExportManifest,
  configFingerprint,
  exportSamOnnx,
  isOnnxExportCurrent,
  readOnnxExportManifest,
} from './export-model';
import { diff, ortRun, ortSession, tokens } from './onnx-export.testing';

const GOLD = 'sam-mini/sam-mini-golden.safetensors';
const ONNX_GOLD = 'onnx/onnx-golden.safetensors';
const gold = (name: string): HostTensor => fixtureTensor(GOLD, name);
const onnxGold = (name: string): HostTensor => fixtureTensor(ONNX_GOLD, name);
const ATOL = 1e-4;

describe('exportSamOnnx (sam-mini + one Alignment Layer into a folder)', () => {
  const cfg = getPreset('sam-mini');
  let dir: string;
  let sd: StateDict;
  let align: StateDict;
  let manifest: OnnxExportManifest;
  let engine: OnnxSamEngine;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'casam-onnx-export-'));
    sd = loadFixture('sam-mini/sam-mini.safetensors');
    align = stripPrefix(loadFixture('casam/casam-weights.safetensors'), 'align64.');
    manifest = exportSamOnnx(dir, cfg, sd, {
      alignmentLayers: [{ name: 'liver/ct ü', channels: 64, stateDict: align }],
      now: () => new Date('2026-01-02T03:04:05Z'),
    });
    engine = await createOnnxSamEngine({
      config: cfg,
      encoderPath: join(dir, manifest.encoder.file),
      decoderPath: join(dir, manifest.decoder.file),
      threads: 1,
    });
  });
  afterAll(() => {
    engine?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes a manifest with the model fingerprint, exporter version and every file’s size and hash', () => {
    expect(readOnnxExportManifest(dir)).toEqual(manifest);
    expect(manifest).toMatchObject({
      format: 'casam-onnx-export',
      exporterVersion: ONNX_EXPORTER_VERSION,
      irVersion: 8,
      opset: 17,
      preset: 'sam-mini',
      configFingerprint: configFingerprint(cfg),
      modelFingerprint: stateDictFingerprint(sd),
      createdAt: '2026-01-02T03:04:05.000Z',
      encoder: { file: 'image-encoder.onnx' },
      decoder: { file: 'prompt-decoder.onnx' },
    });
    expect(manifest.alignmentLayers).toHaveLength(1);
    expect(manifest.alignmentLayers[0]).toMatchObject({
      file: 'align-0-liver_ct_.onnx',
      name: 'liver/ct ü',
      channels: 64,
      fingerprint: stateDictFingerprint(align),
    });
    for (const f of [manifest.encoder, manifest.decoder, ...manifest.alignmentLayers]) {
      const bytes = readFileSync(join(dir, f.file));
      expect(bytes.byteLength).toBe(f.bytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(f.sha256);
      expect(f.externalData).toBeUndefined(); // small models keep their weights inline
    }
  });

  it('is a drop-in for the official exports in createOnnxSamEngine', async () => {
    const emb = await engine.embed(gold('input.preprocessed'));
    expect(diff(emb, gold('image_embeddings'), 'embed')).toBeLessThanOrEqual(ATOL);
    const box = await engine.decode(
      gold('image_embeddings'),
      { box: [48, 64, 200, 210] },
      { multimask: true },
    );
    expect(diff(box.lowResMasks, gold('decoder.box.multimask.low_res_masks'), 'box')).toBeLessThanOrEqual(
      ATOL,
    );
    expect(
      diff(box.iouPredictions, gold('decoder.box.multimask.iou_predictions'), 'iou'),
    ).toBeLessThanOrEqual(ATOL);
    const raw = await engine.runDecoderRaw({
      imageEmbeddings: onnxGold('decB.image_embeddings'),
      pointCoords: onnxGold('decB.point_coords'),
      pointLabels: onnxGold('decB.point_labels'),
      maskInput: onnxGold('decB.mask_input'),
      hasMaskInput: onnxGold('decB.has_mask_input'),
      origImSize: onnxGold('decB.orig_im_size'),
    });
    expect(diff(raw.masks, onnxGold('decB.torch.masks'), 'masks')).toBeLessThanOrEqual(ATOL);
    expect(
      diff(tokens(raw.lowResMasks, 0, 4), onnxGold('decB.torch.low_res_masks'), 'low'),
    ).toBeLessThanOrEqual(ATOL);
  });

  it('writes a runnable Alignment Layer', async () => {
    const s = await ortSession(join(dir, manifest.alignmentLayers[0].file));
    try {
      const y = (
        await ortRun(s, {
          image_embeddings: fixtureTensor('casam/casam-golden.safetensors', 'align64.input'),
        })
      )['aligned_embeddings'];
      expect(
        diff(y, fixtureTensor('casam/casam-golden.safetensors', 'align64.output'), 'align'),
      ).toBeLessThanOrEqual(ATOL);
    } finally {
      await s.release();
    }
  });

  it('isOnnxExportCurrent: only for the same weights, preset and exporter, with every file in place', () => {
    const fp = manifest.modelFingerprint;
    expect(isOnnxExportCurrent(dir, cfg, fp)).toBe(true);
    // casam-tiny has sam-mini's exact tensor shapes but window 8: the same weights give other graphs.
    expect(isOnnxExportCurrent(dir, getPreset('casam-tiny'), fp)).toBe(false);
    expect(isOnnxExportCurrent(dir, cfg, 'sha256:' + '0'.repeat(64))).toBe(false);
    expect(isOnnxExportCurrent(join(dir, 'nowhere'), cfg, fp)).toBe(false);
    const mpath = join(dir, ONNX_MANIFEST_FILE);
    const original = readFileSync(mpath, 'utf8');
    try {
      writeFileSync(mpath, JSON.stringify({ ...manifest, exporterVersion: '0' }));
      expect(isOnnxExportCurrent(dir, cfg, fp)).toBe(false);
      writeFileSync(mpath, '{ not json');
      expect(readOnnxExportManifest(dir)).toBeNull();
      expect(isOnnxExportCurrent(dir, cfg, fp)).toBe(false);
    } finally {
      writeFileSync(mpath, original);
    }
    expect(isOnnxExportCurrent(dir, cfg, fp)).toBe(true);
    // Last, as it breaks the folder: a missing graph file makes the export stale.
    unlinkSync(join(dir, manifest.alignmentLayers[0].file));
    expect(isOnnxExportCurrent(dir, cfg, fp)).toBe(false);
    expect(existsSync(join(dir, `${ONNX_MANIFEST_FILE}.tmp`))).toBe(false);
  });
});
