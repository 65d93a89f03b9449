import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildSam,
  CheckpointMismatchError,
  createTfjsSamEngine,
  getPreset,
  initBackend,
  loadSamWeights,
  type Sam,
  type SamConfig,
  type SamEngine,
  stateDictFingerprint,
  type StateDict,
} from '@casam/casam-core';
import { writeFileAtomic } from '@casam/casam-core/src/io/atomic-file';
import { EXIT, UserError } from '../cli/errors';
import type { AgentConfig, AgentHome } from '../home/agent-home';

export interface BaseModel {
  config: SamConfig;
  sam: Sam;
  engine: SamEngine;
  fingerprint: string;
  weightsPath: string;
}

function readWeights(home: AgentHome, c: AgentConfig): { config: SamConfig; sd: StateDict; path: string } {
  let config: SamConfig;
  try {
    config = getPreset(c.model.preset);
  } catch (e) {
    throw new UserError((e as Error).message, EXIT.usage);
  }
  const path = home.weightsPath(c);
  if (!existsSync(path))
    throw new UserError(
      `base-model weights not found: ${path} (set model.weights in ${home.configFile}, or run npm run pretrain for the embedded casam-tiny)`,
      EXIT.model,
    );
  try {
    return { config, sd: loadSamWeights(path, config), path };
  } catch (e) {
    if (e instanceof CheckpointMismatchError) throw new UserError(e.message, EXIT.model);
    throw new UserError(`cannot load ${path}: ${(e as Error).message}`, EXIT.model);
  }
}

/**
 * The base model's fingerprint (sha256 over its weights), cached in the home keyed by the weights file's size
 * and mtime so commands that only need the fingerprint (propose, pull) do not load the model every time.
 */
export function baseModelFingerprint(home: AgentHome, c: AgentConfig): string {
  const path = home.weightsPath(c);
  const cacheFile = join(home.dir, 'base-model.json');
  const st = existsSync(path) ? statSync(path) : null;
  const key = st ? `${c.model.preset}:${path}:${st.size}:${Math.round(st.mtimeMs)}` : '';
  if (st && existsSync(cacheFile)) {
    try {
      const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as { key: string; fingerprint: string };
      if (cached.key === key) return cached.fingerprint;
    } catch {
      // recompute below
    }
  }
  const { sd } = readWeights(home, c);
  const fingerprint = stateDictFingerprint(sd);
  writeFileAtomic(cacheFile, JSON.stringify({ key, fingerprint }) + '\n');
  return fingerprint;
}

/** Loads the frozen base model on the configured backend (TF.js). */
export async function loadBaseModel(
  home: AgentHome,
  c: AgentConfig,
  log: (l: string) => void,
): Promise<BaseModel> {
  try {
    await initBackend({ prefer: c.backend, log });
  } catch (e) {
    throw new UserError((e as Error).message, EXIT.backend);
  }
  const { config, sd, path } = readWeights(home, c);
  const sam = buildSam(config, sd);
  return {
    config,
    sam,
    engine: createTfjsSamEngine(sam),
    fingerprint: stateDictFingerprint(sd),
    weightsPath: path,
  };
}
