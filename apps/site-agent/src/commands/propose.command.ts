import type { ProposeTaskRequest, TaskSummary } from '@casam/protocol';
import { EXIT, UserError } from '../cli/errors';
import { printable } from '../cli/printable';
import { CoordinatorError, CoordinatorUnreachableError } from '../coordinator/coordinator-client';
import { baseModelFingerprint } from '../model/engine-factory';
import { TaskStore } from '../tasks/local-task';
import type { Command } from './command';
import { openAgent } from '../use-cases/agent-context';
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
    const { home, config, client } = await openAgent(v.string('home'));
    const store = new TaskStore(home);
    const name = v.string('task', true);
    const task = store.read(name);
    if (task.coordinator) {
      console.log(
        `task ${name} was already proposed as ${printable(task.coordinator.taskId)} (${printable(task.coordinator.status)} when last asked; site-agent status asks the coordinator again)`,
      );
      return;
    }
    const body: ProposeTaskRequest = {
      name,
      modality: v.string('modality') ?? task.modality,
      targetStructures:
        v
          .string('structures')
          ?.split(',')
          .map((s) => s.trim())
          .filter(Boolean) ?? task.structures,
      baseModel: { preset: config.model.preset, fingerprint: baseModelFingerprint(home, config) },
    };
    let res: TaskSummary;
    try {
      res = await client.json<TaskSummary>('propose_task', { path: '/api/v1/tasks', body });
    } catch (e) {
      if (e instanceof CoordinatorError)
        throw new UserError(`coordinator refused the proposal: ${e.message}`, EXIT.input);
      if (e instanceof CoordinatorUnreachableError) throw new UserError(e.message, EXIT.backend);
      throw e;
    }
    store.update(name, (t) => {
      t.coordinator = { taskId: res.id, status: res.status, proposedAt: new Date().toISOString() };
    });
    log(`base model ${body.baseModel.preset} ${body.baseModel.fingerprint}`);
    console.log(
      `proposed task ${name} as ${printable(res.id)} (${printable(res.status)}); an admin must approve it before adapters are accepted`,
    );
  },
};
