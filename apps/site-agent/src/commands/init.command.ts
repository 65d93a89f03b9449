import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { getPreset } from '@casam/casam-core';
import { EXIT, UserError } from '../cli/errors';
import { AgentHome, type AgentConfig } from '../home/agent-home';
import { SiteIdentity } from '../identity/site-identity';
import { installPackedOnnxExport } from '../model/packed-onnx-export';
import type { Command } from './command';
import { HOME_HELP, HOME_OPTION } from './home-option';

/** The embedded default base model shipped in the repository (and in the offline bundle). */
export const DEFAULT_WEIGHTS = resolve(__dirname, '../../../../models/casam-tiny/casam-tiny.safetensors');
/** The offline bundle's ONNX export of the default model, made at pack time (absent in a checkout). */
export const PACKED_ONNX_CACHE = join(dirname(DEFAULT_WEIGHTS), 'onnx-cache');
/** Where `init` copies the default base model, relative to the agent home (agent.json stores this path). */
export const HOME_WEIGHTS = join('models', 'casam-tiny.safetensors');

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

export const initCommand: Command = {
  name: 'init',
  summary: "write the agent's configuration and generate the site's Ed25519 key pair",
  usage: `site-agent init --coordinator <url> --site-name <name> [--preset <p>] [--weights <file>]
                [--backend auto|tfjs-node-gpu|tfjs-node|wasm|cpu] [--serve-host 127.0.0.1] [--serve-port 8787]
                [--pacs <DICOMweb URL> ...] [--force] [--home <dir>]
  --coordinator <url>       the coordinator's origin, e.g. https://coordinator.example.org
  --site-name <name>        this hospital's name in the federation
  --preset <p>              base-model preset (default casam-tiny)
  --weights <file>          base-model weights (default: the embedded casam-tiny, copied into the home)
  --pacs <url>              a hospital PACS the agent may use over DICOMweb (its root, e.g.
                            https://pacs.hospital.example/dicom-web); repeatable; kept in agent.json pacs.allowed
  --force                   rewrite an existing configuration (the key is never replaced)
${HOME_HELP}`,
  options: {
    ...HOME_OPTION,
    coordinator: { type: 'string' },
    'site-name': { type: 'string' },
    preset: { type: 'string', default: 'casam-tiny' },
    weights: { type: 'string' },
    backend: { type: 'string', default: 'auto' },
    'serve-host': { type: 'string', default: '127.0.0.1' },
    'serve-port': { type: 'string', default: '8787' },
    pacs: { type: 'string', multiple: true },
    force: { type: 'boolean', default: false },
  },
  async run(v, log) {
    const home = new AgentHome(v.string('home'));
    if (home.exists() && !v.bool('force'))
      throw new UserError(
        `${home.configFile} already exists; use --force to rewrite it (the site key is kept)`,
        EXIT.usage,
      );
    const preset = v.string('preset') ?? 'casam-tiny';
    try {
      getPreset(preset);
    } catch (e) {
      throw new UserError((e as Error).message, EXIT.usage);
    }
    const coordinatorUrl = v.string('coordinator', true).replace(/\/+$/, '');
    const siteName = v.string('site-name', true);
    const weights = v.string('weights')
      ? resolve(v.string('weights')!)
      : preset === 'casam-tiny' && existsSync(DEFAULT_WEIGHTS)
        ? copyDefaultWeights(home.dir, log)
        : DEFAULT_WEIGHTS;
    if (!existsSync(resolve(home.dir, weights)))
      log(`warning: base-model weights ${weights} do not exist yet; training and segmenting need them`);
    const port = Number(v.string('serve-port'));
    const config: AgentConfig = {
      version: 1,
      coordinatorUrl,
      siteName,
      model: { preset, weights },
      backend: (v.string('backend') ?? 'auto') as AgentConfig['backend'],
      serve: { host: v.string('serve-host') ?? '127.0.0.1', port, maxRequestBytes: 32 * 1024 * 1024 },
      ...(v.strings('pacs').length
        ? { pacs: { allowed: v.strings('pacs').map((u) => u.replace(/\/+$/, '')) } }
        : {}),
    };
    home.writeConfig(config);
    installPackedOnnxExport(PACKED_ONNX_CACHE, home, config, log);
    let identity: SiteIdentity;
    if (existsSync(home.keyFile)) {
      identity = await SiteIdentity.load(home.keyFile);
      log(`kept the existing site key ${home.keyFile}`);
    } else {
      identity = await SiteIdentity.generate(home.keyFile);
      log(`generated the site key ${home.keyFile} (mode 0600; it never leaves this machine)`);
    }
    log(`wrote ${home.configFile}`);
    console.log(`site key fingerprint: ${identity.fingerprint}`);
    log('next: site-agent enroll --token <one-time enrollment token from the federation admin>');
  },
};
