import { EXIT, UserError } from '../cli/errors';
import { AgentDaemon } from '../daemon/agent-daemon';
import type { Command } from './command';
import { openAgent } from '../use-cases/agent-context';
import { enrolledSiteId } from '../use-cases/use-case-errors';
import { HOME_HELP, HOME_OPTION } from './home-option';

export const daemonCommand: Command = {
  name: 'daemon',
  summary: 'stay connected to the coordinator: pull announced bundles, resume pending uploads',
  usage: `site-agent daemon [--home <dir>]
Keeps an outbound socket.io connection (reconnects with backoff and jitter after any loss), pulls every bundle
the coordinator announces and any published while offline, resumes unfinished uploads. Ctrl-C stops.
${HOME_HELP}`,
  options: { ...HOME_OPTION },
  async run(v, log) {
    const ctx = await openAgent(v.string('home'));
    enrolledSiteId(ctx.home.readState());
    const daemon = new AgentDaemon(ctx, { log });
    const stop = () => {
      log('stopping…');
      void daemon.stop();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    log(`daemon for ${ctx.config.siteName} → ${ctx.config.coordinatorUrl}`);
    const refusal = await daemon.run();
    if (refusal)
      throw new UserError(
        `the coordinator refuses this site (${refusal.code}): ${refusal.message}`,
        EXIT.input,
      );
  },
};
