import { describe, expect, it } from 'vitest';
import type { NewAuditEvent } from '../audit/audit-event.repository';
import type { AuditService } from '../audit/audit.service';
import type { Actor } from '../auth/actor';
import type { Clock } from '../common/clock';
import type { DomainError } from '../common/domain-error';
import { parseConfig } from '../config/coordinator-config';
import { type CoordinatorEvent, CoordinatorEvents } from '../events/coordinator-events';
import type { TaskRepository, TaskStatusChange, TaskWithContributors } from './task.repository';
import { TasksService } from './tasks.service';

const FP_A = 'sha256:' + 'a'.repeat(64);
const FP_B = 'sha256:' + 'b'.repeat(64);
const NOW = new Date('2026-03-01T12:00:00.000Z');
const meta = { address: '10.0.0.1', correlationId: 'c-1' };
const admin: Actor = { type: 'admin', id: 'admin-1', meta };
const site = { type: 'site' as const, id: 'site-1', meta };

function task(over: Partial<TaskWithContributors> = {}): TaskWithContributors {
  return {
    id: 'task-1',
    name: 'liver',
    modality: 'CT',
    targetStructures: ['liver'],
    baseModelFingerprint: FP_A,
    baseModelPreset: 'casam-tiny',
    embeddingChannels: 64,
    status: 'proposed',
    statusReason: null,
    decidedById: null,
    decidedAt: null,
    proposedBySiteId: 'site-1',
    createdAt: NOW,
    updatedAt: NOW,
    contributors: [],
    ...over,
  };
}

/** The service with every side effect replaced: an in-memory repository, a recording audit log, a fixed clock. */
function setup(
  opts: { rows?: TaskWithContributors[]; approved?: string[]; loseRace?: boolean; fixed?: string } = {},
) {
  const rows = new Map((opts.rows ?? [task()]).map((t) => [t.id, t]));
  const audit: NewAuditEvent[] = [];
  const emitted: CoordinatorEvent[] = [];
  const repo = {
    findById: async (id: string) => rows.get(id) ?? null,
    create: async (t: Omit<TaskWithContributors, 'id'>) => task({ ...t, id: 'new' }),
    changeStatus: async (id: string, c: TaskStatusChange, guard?: (fps: string[]) => void) => {
      guard?.(opts.approved ?? []);
      if (opts.loseRace) return null;
      const t = {
        ...rows.get(id)!,
        status: c.to,
        statusReason: c.reason ?? null,
        decidedById: c.decidedById,
        decidedAt: c.at,
      };
      rows.set(id, t);
      return t;
    },
  } as unknown as TaskRepository;
  const events = new CoordinatorEvents();
  for (const type of ['task.status_changed'] as const) events.on(type, (e) => void emitted.push(e));
  const config = parseConfig(opts.fixed ? { COORDINATOR_BASE_MODEL_FINGERPRINT: opts.fixed } : {}, '/tmp');
  const service = new TasksService(
    repo,
    { record: async (e: NewAuditEvent) => void audit.push(e) } as unknown as AuditService,
    events,
    { now: () => NOW } as Clock,
    config,
  );
  return { service, audit, emitted, rows };
}

const code = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: DomainError) => e.code,
  );

describe('TasksService (repositories replaced)', () => {
  it('approves a proposed task: status, decider, time, event and audit record', async () => {
    const { service, audit, emitted } = setup();
    const t = await service.approve('task-1', admin);
    expect(t).toMatchObject({ status: 'approved', decidedById: 'admin-1', decidedAt: NOW.toISOString() });
    expect(emitted).toEqual([
      { type: 'task.status_changed', taskId: 'task-1', status: 'approved', previous: 'proposed' },
    ]);
    expect(audit).toEqual([
      expect.objectContaining({
        actorType: 'admin',
        actorId: 'admin-1',
        action: 'task.approved',
        targetId: 'task-1',
        siteId: 'site-1',
        address: '10.0.0.1',
        correlationId: 'c-1',
        createdAt: NOW,
      }),
    ]);
  });

  it('a lost compare-and-set (another admin decided first) is a conflict, audited as denied, with no event', async () => {
    const { service, audit, emitted } = setup({ loseRace: true });
    expect(await code(service.reject('task-1', 'no labels', admin))).toBe('task_not_proposed');
    expect(emitted).toEqual([]);
    expect(audit).toEqual([
      expect.objectContaining({
        action: 'task.rejected',
        outcome: 'denied',
        details: expect.objectContaining({ reason: 'no labels', error: 'task_not_proposed' }),
      }),
    ]);
  });

  it('refuses to approve a task for a base model other than the approved tasks', async () => {
    const { service, emitted, rows } = setup({ approved: [FP_B] });
    expect(await code(service.approve('task-1', admin))).toBe('base_model_mismatch');
    expect(rows.get('task-1')!.status).toBe('proposed');
    expect(emitted).toEqual([]);
    expect(await code(setup({ approved: [FP_A] }).service.approve('task-1', admin))).toBe('resolved');
  });

  it('with a configured base model, refuses other fingerprints at proposal and at approval', async () => {
    const { service, audit } = setup({ fixed: FP_B });
    const proposal = {
      name: 'x',
      modality: 'CT',
      targetStructures: ['liver'],
      baseModel: { preset: 'vit_b', fingerprint: FP_A },
    };
    expect(await code(service.propose(proposal, site))).toBe('base_model_mismatch');
    expect(audit[0]).toMatchObject({
      action: 'task.proposed',
      outcome: 'denied',
      actorType: 'site',
      siteId: 'site-1',
    });
    expect(await code(service.approve('task-1', admin))).toBe('base_model_mismatch');
  });

  it('takes the embedding channels from the preset and refuses unknown presets', async () => {
    const { service } = setup();
    const base = { name: ' x ', modality: 'CT', targetStructures: [' liver '] };
    const t = await service.propose({ ...base, baseModel: { preset: 'vit_l', fingerprint: FP_A } }, site);
    expect(t).toMatchObject({
      name: 'x',
      targetStructures: ['liver'],
      embeddingChannels: 256,
      baseModel: { preset: 'vit_l' },
    });
    expect(
      await code(service.propose({ ...base, baseModel: { preset: 'vit_q', fingerprint: FP_A } }, site)),
    ).toBe('unknown_base_model_preset');
  });

  it('only retires approved tasks and only rejects proposed ones', async () => {
    const { service } = setup({ rows: [task({ status: 'approved' })] });
    expect(await code(service.reject('task-1', 'r', admin))).toBe('task_not_proposed');
    expect((await service.retire('task-1', 'old', admin)).status).toBe('retired');
    expect(await code(service.retire('task-1', 'old', admin))).toBe('task_not_approved');
    expect(await code(service.approve('missing', admin))).toBe('task_not_found');
  });
});
