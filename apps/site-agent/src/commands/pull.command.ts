import { EXIT, UserError } from '../cli/errors';
import { CoordinatorError, CoordinatorUnreachableError } from '../coordinator/coordinator-client';
import { BundleRefusedError } from '../bundle/pull-bundle';
import type { Command } from './command';
import { openAgent } from '../use-cases/agent-context';
import { bundleInUse, rollBackBundle, syncBundle } from '../use-cases/sync-bundle';
import { HOME_HELP, HOME_OPTION } from './home-option';

export const pullCommand: Command = {
  name: 'pull',
  summary:
    'fetch the newest router bundle, verify it (pinned key, hashes, base model), swap it in atomically',
  usage: `site-agent pull [--home <dir>]
A bundle that fails any check is refused and the one in use stays; an interrupted download resumes.
${HOME_HELP}`,
  options: { ...HOME_OPTION },
  async run(v, log) {
    const ctx = await openAgent(v.string('home'));
    try {
      const r = await syncBundle(ctx, log);
      if (r.kind === 'none-published') console.log('no bundle has been published yet');
      else if (r.kind === 'up-to-date')
        console.log(`up to date: bundle ${r.current.version} (${r.current.taskCount} task(s))`);
      else {
        console.log(
          `installed bundle ${r.installed.version} (${r.installed.taskCount} task(s), signed by ${r.installed.kid})` +
            `${r.previous ? `; previous ${r.previous.version} kept for rollback` : ''}${r.resumedFromBytes ? `; resumed at byte ${r.resumedFromBytes}` : ''}`,
        );
      }
    } catch (e) {
      if (e instanceof BundleRefusedError)
        throw new UserError(
          `${e.message} [${e.code}]; the bundle in use (${bundleInUse(ctx.home)?.version ?? 'none'}) stays`,
          EXIT.input,
        );
      if (e instanceof CoordinatorError) throw new UserError(`coordinator: ${e.message}`, EXIT.input);
      if (e instanceof CoordinatorUnreachableError) throw new UserError(e.message, EXIT.backend);
      throw e;
    }
  },
};

export const rollbackCommand: Command = {
  name: 'rollback',
  summary: 'make the previous router bundle current again',
  usage: `site-agent rollback [--home <dir>]\n${HOME_HELP}`,
  options: { ...HOME_OPTION },
  async run(v) {
    const { home } = await openAgent(v.string('home'));
    let r;
    try {
      r = rollBackBundle(home);
    } catch (e) {
      throw new UserError((e as Error).message, EXIT.usage);
    }
    console.log(`rolled back from bundle ${r.from?.version} to bundle ${r.to.version}`);
  },
};
