import { EXIT, UserError } from '../cli/errors';
import { AgentHome } from '../home/agent-home';
import { DEFAULT_ENGINE, parseEngineChoice } from '../model/engine-factory';
import { ENGINE_HELP, ENGINE_OPTION } from './model-options';
import { serveSegmentation } from '../use-cases/serve-segmentation';
import type { Command } from './command';
import { HOME_HELP, HOME_OPTION } from './home-option';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'local HTTP segmentation API for hospital apps (loopback by default)',
  usage: `site-agent serve [--host <addr>] [--port <n>] [--home <dir>]
  --host <addr>             listen address (default: serve.host of the config, 127.0.0.1)
  --port <n>                port (default: serve.port of the config; 0 picks a free one)
POST /v1/segment?box=x0,y0,x1,y1[&point=x,y[,label]] with an image/png or image/jpeg body → mask + routing
decision (box corners are inclusive pixel indices); an application/dicom body (one instance, [&frame=n]
[&window=auto|ct-abdomen|…]) likewise, or a DICOM-SEG with Accept: application/dicom; GET /healthz. A bundle installed by pull, the daemon or
rollback is swapped in within a second, without a restart.
${ENGINE_HELP}
${HOME_HELP}`,
  options: { ...HOME_OPTION, ...ENGINE_OPTION, host: { type: 'string' }, port: { type: 'string' } },
  async run(v, log) {
    const home = new AgentHome(v.string('home'));
    const config = home.readConfig();
    const port = v.string('port') === undefined ? config.serve.port : Number(v.string('port'));
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UserError('--port must be 0..65535', EXIT.usage);
    const host = v.string('host') ?? config.serve.host;
    if (!['127.0.0.1', '::1', 'localhost'].includes(host))
      log(
        `warning: listening on ${host}, not loopback: any machine that reaches it can segment images through this agent`,
      );
    const { server, url } = await serveSegmentation({
      home,
      host,
      port,
      engine: parseEngineChoice(v.string('engine') ?? DEFAULT_ENGINE),
      log,
    });
    console.log(`serving on ${url} (bundle ${server.bundleVersion ?? 'none'}); Ctrl-C stops`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        log('stopping…');
        void server.close().then(resolve);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  },
};
