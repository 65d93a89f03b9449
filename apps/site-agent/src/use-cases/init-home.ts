/**
 * Use case: set up an agent home — the configuration (coordinator, site name, base model, backend, serve and
 * PACS settings), the default base model copied in, the packed ONNX export installed when the offline bundle
 * carries one, and the site's Ed25519 key (generated once, never replaced). `site-agent init` calls it.
 */
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_MODEL_FILE, DEFAULT_PRESET, getPreset } from '@casam/casam-core';
import { EXIT, UserError } from '../cli/errors';
import { AgentHome, type AgentConfig } from '../home/agent-home';
import { SiteIdentity } from '../identity/site-identity';
import { installPackedOnnxExport } from '../model/packed-onnx-export';

/** The embedded default base model shipped in the repository (and in the offline bundle). */
export const DEFAULT_WEIGHTS = resolve(__dirname, '../../../..', DEFAULT_MODEL_FILE);
/** The offline bundle's ONNX export of the default model, made at pack time (absent in a checkout). */
export const PACKED_ONNX_CACHE = join(dirname(DEFAULT_WEIGHTS), 'onnx-cache');
/** Where `init` copies the default base model, relative to the agent home (agent.json stores this path). */
export const HOME_WEIGHTS = join('models', `${DEFAULT_PRESET}.safetensors`);

/**
 * The home to initialise: refused (exit 2) when it already has a configuration and `force` is not set, or
 * when the preset is unknown. Checked before anything else is read.
 */
export function newAgentHome(homeDir: string | undefined, o: { force: boolean; preset: string }): AgentHome {
  const home = new AgentHome(homeDir);
  if (home.exists() && !o.force)
    throw new UserError(
      `${home.configFile} already exists; use --force to rewrite it (the site key is kept)`,
      EXIT.usage,
    );
  try {
    getPreset(o.preset);
  } catch (e) {
    throw new UserError((e as Error).message, EXIT.usage);
  }
  return home;
}

export interface InitHomeInput {
  /** The coordinator's origin (a trailing slash is dropped). */
  coordinatorUrl: string;
  siteName: string;
  preset: string;
  /** Base-model weights; default the embedded casam-tiny, copied into the home. */
  weights?: string;
  backend: AgentConfig['backend'];
  serve: { host: string; port: number };
  /** DICOMweb roots the agent may use (agent.json pacs.allowed). */
  pacs: string[];
  log: (l: string) => void;
}

export interface InitHomeResult {
  config: AgentConfig;
  /** The site key's fingerprint (the admin compares it when approving). */
  fingerprint: string;
  /** False when an existing key was kept. */
  keyGenerated: boolean;
}

export async function initHome(home: AgentHome, o: InitHomeInput): Promise<InitHomeResult> {
  const { log } = o;
  const weights = o.weights
    ? resolve(o.weights)
    : o.preset === DEFAULT_PRESET && existsSync(DEFAULT_WEIGHTS)
      ? copyDefaultWeights(home.dir, log)
      : DEFAULT_WEIGHTS;
  if (!existsSync(resolve(home.dir, weights)))
    log(`warning: base-model weights ${weights} do not exist yet; training and segmenting need them`);
  const config: AgentConfig = {
    version: 1,
    coordinatorUrl: o.coordinatorUrl.replace(/\/+$/, ''),
    siteName: o.siteName,
    model: { preset: o.preset, weights },
    backend: o.backend,
    serve: { host: o.serve.host, port: o.serve.port, maxRequestBytes: 32 * 1024 * 1024 },
    ...(o.pacs.length ? { pacs: { allowed: o.pacs.map((u) => u.replace(/\/+$/, '')) } } : {}),
  };
  home.writeConfig(config);
  installPackedOnnxExport(PACKED_ONNX_CACHE, home, config, log);
  let identity: SiteIdentity;
  const keyGenerated = !existsSync(home.keyFile);
  if (!keyGenerated) {
    identity = await SiteIdentity.load(home.keyFile);
    log(`kept the existing site key ${home.keyFile}`);
  } else {
    identity = await SiteIdentity.generate(home.keyFile);
    log(`generated the site key ${home.keyFile} (mode 0600; it never leaves this machine)`);
  }
  log(`wrote ${home.configFile}`);
  return { config, fingerprint: identity.fingerprint, keyGenerated };
}

/**
 * The default base model is copied into the home rather than referenced where the program lies: an installed
 * program sits in a versioned folder (/opt/casam-site-agent/0.1.0/…) that goes away after an upgrade, and a
 * newer program may ship other default weights, while the site must keep the base model its adapters and the
 * federation's bundles were trained on. An existing copy is kept (like the key); a crash mid-copy leaves none.
 */
function copyDefaultWeights(homeDir: string, log: (l: string) => void): string {
  const dest = join(homeDir, HOME_WEIGHTS);
  if (existsSync(dest)) {
    log(`kept the base model ${dest}`);
    return HOME_WEIGHTS;
  }
  mkdirSync(dirname(dest), { recursive: true, mode: 0o700 });
  const tmp = `${dest}.tmp-${process.pid}`;
  try {
    copyFileSync(DEFAULT_WEIGHTS, tmp);
    renameSync(tmp, dest);
  } finally {
    rmSync(tmp, { force: true });
  }
  log(`copied the default base model to ${dest}`);
  return HOME_WEIGHTS;
}
