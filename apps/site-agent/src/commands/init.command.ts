import { DEFAULT_PRESET } from '@casam/casam-core';
import type { AgentConfig } from '../home/agent-home';
import { initHome, newAgentHome } from '../use-cases/init-home';
import type { Command } from './command';
import { HOME_HELP, HOME_OPTION } from './home-option';

export const initCommand: Command = {
  name: 'init',
  summary: "write the agent's configuration and generate the site's Ed25519 key pair",
  usage: `site-agent init --coordinator <url> --site-name <name> [--preset <p>] [--weights <file>]
                [--backend auto|tfjs-node-gpu|tfjs-node|wasm|cpu] [--serve-host 127.0.0.1] [--serve-port 8787]
                [--pacs <DICOMweb URL> ...] [--force] [--home <dir>]
  --coordinator <url>       the coordinator's origin, e.g. https://coordinator.example.org
  --site-name <name>        this hospital's name in the federation
  --preset <p>              base-model preset (default ${DEFAULT_PRESET})
  --weights <file>          base-model weights (default: the embedded ${DEFAULT_PRESET}, copied into the home)
  --pacs <url>              a hospital PACS the agent may use over DICOMweb (its root, e.g.
                            https://pacs.hospital.example/dicom-web); repeatable; kept in agent.json pacs.allowed
  --force                   rewrite an existing configuration (the key is never replaced)
${HOME_HELP}`,
  options: {
    ...HOME_OPTION,
    coordinator: { type: 'string' },
    'site-name': { type: 'string' },
    preset: { type: 'string', default: DEFAULT_PRESET },
    weights: { type: 'string' },
    backend: { type: 'string', default: 'auto' },
    'serve-host': { type: 'string', default: '127.0.0.1' },
    'serve-port': { type: 'string', default: '8787' },
    pacs: { type: 'string', multiple: true },
    force: { type: 'boolean', default: false },
  },
  async run(v, log) {
    const preset = v.string('preset') ?? DEFAULT_PRESET;
    const home = newAgentHome(v.string('home'), { force: v.bool('force'), preset });
    const coordinatorUrl = v.string('coordinator', true);
    const siteName = v.string('site-name', true);
    const r = await initHome(home, {
      coordinatorUrl,
      siteName,
      preset,
      weights: v.string('weights'),
      backend: (v.string('backend') ?? 'auto') as AgentConfig['backend'],
      serve: { host: v.string('serve-host') ?? '127.0.0.1', port: Number(v.string('serve-port')) },
      pacs: v.strings('pacs'),
      log,
    });
    console.log(`site key fingerprint: ${r.fingerprint}`);
    log('next: site-agent enroll --token <one-time enrollment token from the federation admin>');
  },
};
