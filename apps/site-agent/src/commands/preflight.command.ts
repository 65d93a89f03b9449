import { EXIT, UserError } from '../cli/errors';
import { preflightReport } from '@casam/protocol';
import { runSitePreflight } from '../preflight/site-preflight';
import type { Command } from './command';
import { HOME_HELP, HOME_OPTION } from './home-option';

export const preflightCommand: Command = {
  name: 'preflight',
  summary: 'checks this machine before it takes part: config, disk, key, DNS/TCP/TLS, clock, backend, model',
  usage: `site-agent preflight [--offline] [--json] [--home <dir>]
  --offline                 skip the checks that need the network (DNS, TCP, TLS, coordinator, clock)
  --json                    one JSON object {ok, checks:[{name, status, detail, fix}]} instead of text
${HOME_HELP}

Prints one line per check: ok, warn (works, but should be fixed), fail (will not work) or skip (could not be
checked because an earlier check failed), each warn and fail followed by what to do. Exit code 0 when nothing
failed, 6 when a check failed.`,
  options: {
    ...HOME_OPTION,
    offline: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
  async run(v, log) {
    const json = v.bool('json');
    const checks = await runSitePreflight(v.string('home'), {
      network: !v.bool('offline'),
      progress: json ? undefined : (l) => log(`… ${l}`),
    });
    const { text, failed } = preflightReport(checks, json);
    console.log(text);
    if (failed.length)
      throw new UserError(`preflight failed: ${failed.map((c) => c.name).join(', ')}`, EXIT.preflight);
  },
};
