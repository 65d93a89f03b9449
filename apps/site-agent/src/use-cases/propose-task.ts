/**
 * Use case: propose an ingested local task to the coordinator (name, modality, target structures, the base
 * model's preset and fingerprint) and record the coordinator's task id. A task proposed before is not proposed
 * again. Errors: CoordinatorError (refused) and CoordinatorUnreachableError, as the client throws them.
 */
import type { ProposeTaskRequest, TaskSummary } from '@casam/protocol';
import { baseModelFingerprint } from '../model/engine-factory';
import { TaskStore } from '../tasks/local-task';
import type { AgentContext } from './agent-context';

export interface ProposeTaskInput {
  /** The task's local name. */
  name: string;
  /** Overrides the modality recorded at ingest. */
  modality?: string;
  /** Overrides the target structures (default: the ingested class names). */
  structures?: string[];
}

export type ProposeTaskResult =
  | { kind: 'proposed'; taskId: string; status: string; baseModel: ProposeTaskRequest['baseModel'] }
  /** Proposed earlier: the id and the status last known (`status` asks the coordinator again). */
  | { kind: 'already-proposed'; taskId: string; status: string };

export async function proposeTask(ctx: AgentContext, input: ProposeTaskInput): Promise<ProposeTaskResult> {
  const { home, config, client } = ctx;
  const store = new TaskStore(home);
  const { name } = input;
  const task = store.read(name);
  if (task.coordinator)
    return { kind: 'already-proposed', taskId: task.coordinator.taskId, status: task.coordinator.status };
  const body: ProposeTaskRequest = {
    name,
    modality: input.modality ?? task.modality,
    targetStructures: input.structures ?? task.structures,
    baseModel: { preset: config.model.preset, fingerprint: baseModelFingerprint(home, config) },
  };
  const res = await client.json<TaskSummary>('propose_task', { path: '/api/v1/tasks', body });
  store.update(name, (t) => {
    t.coordinator = { taskId: res.id, status: res.status, proposedAt: new Date().toISOString() };
  });
  return { kind: 'proposed', taskId: res.id, status: res.status, baseModel: body.baseModel };
}
