import { existsSync, readFileSync } from 'node:fs';
import type { TaskSummary } from '@casam/protocol';
import {
  type CoordinatorClient,
  CoordinatorError,
  CoordinatorUnreachableError,
} from '../coordinator/coordinator-client';
import { printable, printableJson } from '../cli/printable';
import { parseEgressLog } from '../egress/egress-log';
import { BundleStore } from '../bundle/bundle-store';
import { TASK_NAME, TaskStore } from '../tasks/local-task';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from './command';
import { openAgent } from '../use-cases/agent-context';
import { HOME_HELP, HOME_OPTION } from './home-option';
import { AGENT_VERSION } from '../version';

export const statusCommand: Command = {
  name: 'status',
  summary:
    'enrollment state, bundle, pending uploads, backend, egress totals; asks the coordinator when it can',
  usage: `site-agent status [--offline] [--json] [--home <dir>]
  --offline                 do not contact the coordinator; report what is stored locally
  --json                    one JSON object instead of text
${HOME_HELP}`,
  options: {
    ...HOME_OPTION,
    offline: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
  async run(v) {
    const { home, config, identity, client } = await openAgent(v.string('home'));
    const state = home.readState();
    let coordinator: { reachable: boolean; enrollment?: string; error?: string } = { reachable: false };
    if (!v.bool('offline') && state.siteId) {
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
        else if (e instanceof CoordinatorUnreachableError)
          coordinator = { reachable: false, error: e.message };
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
    const taskStore = new TaskStore(home);
    const tasksDir = join(home.dir, 'tasks');
    const names = (existsSync(tasksDir) ? readdirSync(tasksDir) : []).filter(
      (n) => TASK_NAME.test(n) && taskStore.exists(n),
    );
    // The task's state is the coordinator's (an admin approves, rejects or retires it): asked afresh when it can
    // be, and remembered in task.json for offline runs.
    const asked = coordinator.reachable && coordinator.enrollment === 'approved';
    const tasks = [];
    for (const n of names) {
      let t = taskStore.read(n);
      let fresh = false;
      if (asked && t.coordinator) {
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
        /** proposed, approved, rejected or retired at the coordinator; null before `propose`. */
        coordinatorStatus: t.coordinator?.status ?? null,
        /** When the coordinator last confirmed that status (absent: as of the proposal). */
        statusCheckedAt: t.coordinator?.checkedAt ?? t.coordinator?.proposedAt ?? null,
        statusFresh: fresh,
        trained: !!t.training,
        upload: t.upload ? (t.upload.completedAt ? 'done' : 'pending') : 'none',
      });
    }
    const report = {
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
    if (v.bool('json')) {
      console.log(printableJson(report, 2));
      return;
    }
    const lines = [
      `site            ${report.site} (${report.siteId ?? 'not enrolled'})`,
      `key             ${report.keyFingerprint}`,
      `enrollment      ${printable(report.enrollment)}`,
      `coordinator     ${config.coordinatorUrl} (${coordinator.reachable ? 'reachable' : v.bool('offline') ? 'not asked' : 'unreachable'})${coordinator.error && coordinator.enrollment !== 'pending' ? ` — ${printable(coordinator.error)}` : ''}`,
      `base model      ${config.model.preset} ${report.baseModel.weights}${report.baseModel.present ? '' : ' (MISSING)'}`,
      `backend         ${config.backend} (configured)`,
      `bundle          ${report.bundle ? `${report.bundle.version} (${report.bundle.tasks} task(s), installed ${report.bundle.installedAt})` : 'none installed'}${report.previousBundle ? `; previous ${report.previousBundle}` : ''}${bundles.damage ? ` — WARNING: ${bundles.damage}; run site-agent pull` : ''}`,
      `last sync       ${report.lastSyncAt ?? 'never'}`,
      `tasks           ${tasks.map((t) => `${t.name}${t.trained ? ' trained' : ''}${t.coordinatorStatus ? ` ${printable(t.coordinatorStatus)}${t.statusFresh ? '' : ` (last known, ${t.statusCheckedAt})`}` : ' not proposed'}${t.upload !== 'none' ? ` upload ${t.upload}` : ''}`).join('; ') || 'none'}`,
      `pending uploads ${report.pendingUploads.join(', ') || 'none'}`,
      `egress          ${egress.length} message(s): ${
        Object.entries(byType)
          .map(([t, s]) => `${t} ×${s.messages} (${s.bytes} B)`)
          .join(', ') || 'none'
      }`,
    ];
    console.log(lines.join('\n'));
  },
};

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
