import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { getPreset } from '@casam/casam-core/src/sam/config';
import { EXIT, UserError } from '../cli/errors';
import { AgentHome, type AgentConfig } from '../home/agent-home';
import { SiteIdentity } from '../identity/site-identity';
import type { Command } from './command';
import { HOME_HELP, HOME_OPTION } from './agent-context';

/** The embedded default base model shipped in the repository. */
export const DEFAULT_WEIGHTS = resolve(__dirname, '../../../../models/casam-tiny/casam-tiny.safetensors');

export const initCommand: Command = {
  name: 'init',
  summary: "write the agent's configuration and generate the site's Ed25519 key pair",
  usage: `site-agent init --coordinator <url> --site-name <name> [--preset <p>] [--weights <file>]
                [--backend auto|tfjs-node-gpu|tfjs-node|wasm|cpu] [--serve-host 127.0.0.1] [--serve-port 8787]
                [--force] [--home <dir>]
  --coordinator <url>       the coordinator's origin, e.g. https://coordinator.example.org
  --site-name <name>        this hospital's name in the federation
  --preset <p>              base-model preset (default casam-tiny)
  --weights <file>          base-model weights (default: the embedded casam-tiny)
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
    const weights = v.string('weights') ? resolve(v.string('weights')!) : DEFAULT_WEIGHTS;
    if (!existsSync(weights))
      log(`warning: base-model weights ${weights} do not exist yet; training and segmenting need them`);
    const port = Number(v.string('serve-port'));
    const config: AgentConfig = {
      version: 1,
      coordinatorUrl: v.string('coordinator', true).replace(/\/+$/, ''),
      siteName: v.string('site-name', true),
      model: { preset, weights },
      backend: (v.string('backend') ?? 'auto') as AgentConfig['backend'],
      serve: { host: v.string('serve-host') ?? '127.0.0.1', port, maxRequestBytes: 32 * 1024 * 1024 },
    };
    home.writeConfig(config);
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
