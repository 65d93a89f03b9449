import { join } from 'node:path';
import type { TaskSummary } from '@casam/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { CoordinatorError } from '../coordinator/coordinator-client';
import { baseModelFingerprint } from '../model/engine-factory';
import { TaskStore } from '../tasks/local-task';
import { enrolledTestSite, coordinatorForSuite, writeTestTask } from '../testing/coordinator-site.testing';
import type { AgentContext } from './agent-context';
import { proposeTask } from './propose-task';

describe('proposeTask against a real coordinator process', () => {
  let ctx: AgentContext;
  const { coord, dir } = coordinatorForSuite('casam-propose-use-case-');
  beforeAll(async () => {
    ctx = await enrolledTestSite(coord(), join(dir, 'site'), 'Propose site');
  }, 120_000);

  it('proposes the ingested task with the base model, records the id, and does not propose it twice', async () => {
    writeTestTask(ctx, 'liver', ['liver', 'tumor']);
    const r = await proposeTask(ctx, { name: 'liver', modality: 'MR' });
    expect(r.kind).toBe('proposed');
    if (r.kind !== 'proposed') return;
    expect(r.status).toBe('proposed');
    expect(r.baseModel).toEqual({
      preset: 'casam-tiny',
      fingerprint: baseModelFingerprint(ctx.home, ctx.config),
    });
    const atCoordinator = await coord().admin<TaskSummary>('GET', `/api/v1/tasks/${r.taskId}`);
    expect(atCoordinator).toMatchObject({
      name: 'liver',
      modality: 'MR',
      targetStructures: ['liver', 'tumor'],
    });
    expect(new TaskStore(ctx.home).read('liver').coordinator).toMatchObject({
      taskId: r.taskId,
      status: 'proposed',
    });

    expect(await proposeTask(ctx, { name: 'liver' })).toEqual({
      kind: 'already-proposed',
      taskId: r.taskId,
      status: 'proposed',
    });
  });

  it('passes the coordinator refusal on as a CoordinatorError and records nothing', async () => {
    // The local record was lost (ingested again): the coordinator already has a task of that name from this site.
    writeTestTask(ctx, 'liver');
    const e = await proposeTask(ctx, { name: 'liver' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CoordinatorError);
    expect((e as CoordinatorError).code).toBe('task_name_taken');
    expect(new TaskStore(ctx.home).read('liver').coordinator).toBeUndefined();
  });
});
