/**
 * Use case: what `site-agent status` reports — enrollment (asked afresh when the coordinator can be reached),
 * base model, bundle, tasks (their coordinator status asked afresh too, and remembered for offline runs),
 * pending uploads, pinned keys, egress totals. Reads and updates the agent home; prints nothing.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskSummary } from '@casam/protocol';
import { BundleStore } from '../bundle/bundle-store';
import {
  type CoordinatorClient,
  CoordinatorError,
  CoordinatorUnreachableError,
} from '../coordinator/coordinator-client';
import { parseEgressLog } from '../egress/egress-log';
import { TASK_NAME, TaskStore } from '../tasks/local-task';
import { AGENT_VERSION } from '../version';
import type { AgentContext } from './agent-context';

export interface CoordinatorReachability {
  reachable: boolean;
  /** approved, pending, rejected, revoked or unknown, as the coordinator answered; absent when not asked. */
  enrollment?: string;
  error?: string;
}

export interface TaskStatus {
  name: string;
  coordinatorTaskId: string | null;
  /** proposed, approved, rejected or retired at the coordinator; null before `propose`. */
  coordinatorStatus: string | null;
  /** When the coordinator last confirmed that status (absent: as of the proposal). */
  statusCheckedAt: string | null;
  statusFresh: boolean;
  trained: boolean;
  upload: 'done' | 'pending' | 'none';
}

/** The report, in the key order `status --json` prints it. */
export interface SiteStatusReport {
  agentVersion: string;
  home: string;
  site: string;
  siteId: string | null;
  keyFingerprint: string;
  enrollment: string;
  coordinator: { url: string } & CoordinatorReachability;
  baseModel: { preset: string; weights: string; present: boolean };
  backend: string;
  bundleDamage: string | null;
  bundle: { version: number; tasks: number; installedAt: string } | null;
  previousBundle: number | null;
  lastSyncAt: string | null;
  tasks: TaskStatus[];
  pendingUploads: string[];
  pinnedCoordinatorKeys: string[];
  /** Messages and bytes sent, by message type (from the egress log). */
  egress: Record<string, { messages: number; bytes: number }>;
}

/** The site's status; `offline` asks the coordinator nothing (what is stored locally). */
export async function siteStatus(ctx: AgentContext, o: { offline: boolean }): Promise<SiteStatusReport> {
  const { home, config, identity, client } = ctx;
  const state = home.readState();
  let coordinator: CoordinatorReachability = { reachable: false };
  if (!o.offline && state.siteId) {
    try {
      await client.accessToken();
      coordinator = { reachable: true, enrollment: 'approved' };
    } catch (e) {
      if (e instanceof CoordinatorError)
        coordinator = {
          reachable: true,
          enrollment: String(
            e.details?.['status'] ?? (e.code === 'credentials_revoked' ? 'revoked' : 'unknown'),
          ),
          error: e.message,
        };
      else if (e instanceof CoordinatorUnreachableError) coordinator = { reachable: false, error: e.message };
      else throw e;
    }
    if (coordinator.enrollment && coordinator.enrollment !== 'unknown' && state.enrollment)
      home.updateState((s) => {
        s.enrollment!.status = coordinator.enrollment as 'pending';
        s.enrollment!.checkedAt = new Date().toISOString();
      });
  }
  const egress = existsSync(home.egressLogFile)
    ? parseEgressLog(readFileSync(home.egressLogFile, 'utf8'))
    : [];
  const byType: Record<string, { messages: number; bytes: number }> = {};
  for (const r of egress) {
    const t = (byType[r.type] ??= { messages: 0, bytes: 0 });
    t.messages++;
    t.bytes += r.bytes;
  }
  const bundles = new BundleStore(home.bundlesDir).pointer();
  // The task's state is the coordinator's (an admin approves, rejects or retires it): asked afresh when it can
  // be, and remembered in task.json for offline runs.
  const asked = coordinator.reachable && coordinator.enrollment === 'approved';
  const tasks = await taskStatuses(ctx, asked ? client : null);
  return {
    agentVersion: AGENT_VERSION,
    home: home.dir,
    site: config.siteName,
    siteId: state.siteId ?? null,
    keyFingerprint: identity.fingerprint,
    enrollment: coordinator.enrollment ?? state.enrollment?.status ?? 'not enrolled',
    coordinator: { url: config.coordinatorUrl, ...coordinator },
    baseModel: {
      preset: config.model.preset,
      weights: home.weightsPath(config),
      present: existsSync(home.weightsPath(config)),
    },
    backend: config.backend,
    bundleDamage: bundles.damage ?? null,
    bundle: bundles.current
      ? {
          version: bundles.current.version,
          tasks: bundles.current.taskCount,
          installedAt: bundles.current.installedAt,
        }
      : null,
    previousBundle: bundles.previous?.version ?? null,
    lastSyncAt: state.lastSyncAt ?? null,
    tasks,
    pendingUploads: tasks.filter((t) => t.upload === 'pending').map((t) => t.name),
    pinnedCoordinatorKeys: state.coordinatorKeys?.map((k) => k.kid) ?? [],
    egress: byType,
  };
}

/** Every local task; with a client, its coordinator status asked afresh and stored. */
async function taskStatuses(ctx: AgentContext, client: CoordinatorClient | null): Promise<TaskStatus[]> {
  const taskStore = new TaskStore(ctx.home);
  const tasksDir = join(ctx.home.dir, 'tasks');
  const names = (existsSync(tasksDir) ? readdirSync(tasksDir) : []).filter(
    (n) => TASK_NAME.test(n) && taskStore.exists(n),
  );
  const tasks: TaskStatus[] = [];
  for (const n of names) {
    let t = taskStore.read(n);
    let fresh = false;
    if (client && t.coordinator) {
      const status = await coordinatorTaskStatus(client, t.coordinator.taskId);
      if (status) {
        fresh = true;
        t = taskStore.update(n, (rec) => {
          rec.coordinator!.status = status;
          rec.coordinator!.checkedAt = new Date().toISOString();
        });
      }
    }
    tasks.push({
      name: n,
      coordinatorTaskId: t.coordinator?.taskId ?? null,
      coordinatorStatus: t.coordinator?.status ?? null,
      statusCheckedAt: t.coordinator?.checkedAt ?? t.coordinator?.proposedAt ?? null,
      statusFresh: fresh,
      trained: !!t.training,
      upload: t.upload ? (t.upload.completedAt ? 'done' : 'pending') : 'none',
    });
  }
  return tasks;
}

/** The task's status at the coordinator, or null when it cannot be asked now (the stored one is shown). */
async function coordinatorTaskStatus(client: CoordinatorClient, taskId: string): Promise<string | null> {
  try {
    const t = await client.json<TaskSummary>(
      'read_tasks',
      { path: `/api/v1/tasks/${taskId}` },
      { idempotent: true },
    );
    return typeof t.status === 'string' ? t.status : null;
  } catch (e) {
    if (e instanceof CoordinatorError && e.status === 404) return 'unknown to the coordinator';
    return null;
  }
}
