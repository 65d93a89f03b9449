/**
 * The offline bundle carries the ONNX export of its default base model, made at pack time by export-onnx's code
 * (same cache layout, same probe against TF.js), in `models/<default preset>/onnx-cache/` next to the weights. `init`
 * places it into the new home's `onnx-cache/` when the home's base model is those very weights (same preset and
 * weights fingerprint), so the site's first `segment` or `serve` does not pay for the export. Any other model
 * (`--weights`, another preset, an exporter of another version) gets nothing and exports on first use as before.
 */
import { cpSync, existsSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { getPreset, isOnnxExportCurrent, type OnnxExportManifest } from '@casam/casam-core';
import type { AgentConfig, AgentHome } from '../home/agent-home';
import { baseModelFingerprint } from './engine-factory';

function manifestOf(dir: string): OnnxExportManifest | null {
  try {
    return JSON.parse(readFileSync(join(dir, 'onnx-export.json'), 'utf8')) as OnnxExportManifest;
  } catch {
    return null;
  }
}

/**
 * Copies the export in `packedCache` that was made from the home's base model into `<home>/onnx-cache/`;
 * returns where it now is, or null when none fits (or the home's weights cannot be read: later commands say why).
 */
export function installPackedOnnxExport(
  packedCache: string,
  home: AgentHome,
  c: AgentConfig,
  log: (l: string) => void,
): string | null {
  if (!existsSync(packedCache) || !existsSync(home.weightsPath(c))) return null;
  const config = getPreset(c.model.preset);
  let fingerprint: string | undefined;
  for (const name of readdirSync(packedCache).sort()) {
    const dir = join(packedCache, name);
    const m = manifestOf(dir);
    if (!m || m.preset !== config.name || !existsSync(join(dir, 'probe.json'))) continue;
    try {
      fingerprint ??= baseModelFingerprint(home, c);
    } catch {
      return null;
    }
    if (m.modelFingerprint !== fingerprint || !isOnnxExportCurrent(dir, config, fingerprint)) continue;
    const dest = join(home.onnxCacheDir, name);
    if (isOnnxExportCurrent(dest, config, fingerprint)) {
      log(`kept the ONNX export ${dest}`);
      return dest;
    }
    const tmp = `${dest}.tmp-${process.pid}`;
    try {
      cpSync(dir, tmp, { recursive: true });
      rmSync(dest, { recursive: true, force: true });
      renameSync(tmp, dest);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    log(
      `placed the bundled ONNX export of ${config.name} in ${dest} (checked at pack time; not exported again)`,
    );
    return dest;
  }
  return null;
}
