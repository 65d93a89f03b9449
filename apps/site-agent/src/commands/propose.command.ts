import { EXIT, UserError } from '../cli/errors';
import { printable } from '../cli/printable';
import { CoordinatorError, CoordinatorUnreachableError } from '../coordinator/coordinator-client';
import type { Command } from './command';
import { openAgent } from '../use-cases/agent-context';
import { type ProposeTaskResult, proposeTask } from '../use-cases/propose-task';
import { HOME_HELP, HOME_OPTION } from './home-option';

export const proposeCommand: Command = {
  name: 'propose',
  summary: 'propose an ingested task to the coordinator (name, modality, structures, base-model fingerprint)',
  usage: `site-agent propose --task <name> [--modality <m>] [--structures a,b] [--home <dir>]
  --modality <m>            override the modality recorded at ingest
  --structures a,b          override the target structures (default: the ingested class names)
${HOME_HELP}`,
  options: {
    ...HOME_OPTION,
    task: { type: 'string' },
    modality: { type: 'string' },
    structures: { type: 'string' },
  },
  async run(v, log) {
    const ctx = await openAgent(v.string('home'));
    const name = v.string('task', true);
    let r: ProposeTaskResult;
    try {
      r = await proposeTask(ctx, {
        name,
        modality: v.string('modality'),
        structures: v
          .string('structures')
          ?.split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      });
    } catch (e) {
      if (e instanceof CoordinatorError)
        throw new UserError(`coordinator refused the proposal: ${e.message}`, EXIT.input);
      if (e instanceof CoordinatorUnreachableError) throw new UserError(e.message, EXIT.backend);
      throw e;
    }
    if (r.kind === 'already-proposed') {
      console.log(
        `task ${name} was already proposed as ${printable(r.taskId)} (${printable(r.status)} when last asked; site-agent status asks the coordinator again)`,
      );
      return;
    }
    log(`base model ${r.baseModel.preset} ${r.baseModel.fingerprint}`);
    console.log(
      `proposed task ${name} as ${printable(r.taskId)} (${printable(r.status)}); an admin must approve it before adapters are accepted`,
    );
  },
};
