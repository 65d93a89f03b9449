import { existsSync, readFileSync } from 'node:fs';
import { CoordinatorError, CoordinatorUnreachableError } from '../coordinator/coordinator-client';
import { parseEgressLog } from '../egress/egress-log';
import { BundleStore } from '../bundle/bundle-store';
import { TaskStore } from '../tasks/local-task';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from './command';
import { HOME_HELP, HOME_OPTION, openAgent } from './agent-context';
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
    const tasks = (existsSync(tasksDir) ? readdirSync(tasksDir) : [])
      .filter((n) => taskStore.exists(n))
      .map((n) => {
        const t = taskStore.read(n);
        return {
          name: n,
          coordinatorTaskId: t.coordinator?.taskId ?? null,
          trained: !!t.training,
          upload: t.upload ? (t.upload.completedAt ? 'done' : 'pending') : 'none',
        };
      });
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
      console.log(JSON.stringify(report, null, 2));
      return;
    }
    const lines = [
      `site            ${report.site} (${report.siteId ?? 'not enrolled'})`,
      `key             ${report.keyFingerprint}`,
      `enrollment      ${report.enrollment}`,
      `coordinator     ${config.coordinatorUrl} (${coordinator.reachable ? 'reachable' : v.bool('offline') ? 'not asked' : 'unreachable'})${coordinator.error && coordinator.enrollment !== 'pending' ? ` — ${coordinator.error}` : ''}`,
      `base model      ${config.model.preset} ${report.baseModel.weights}${report.baseModel.present ? '' : ' (MISSING)'}`,
      `backend         ${config.backend} (configured)`,
      `bundle          ${report.bundle ? `${report.bundle.version} (${report.bundle.tasks} task(s), installed ${report.bundle.installedAt})` : 'none installed'}${report.previousBundle ? `; previous ${report.previousBundle}` : ''}`,
      `last sync       ${report.lastSyncAt ?? 'never'}`,
      `tasks           ${tasks.map((t) => `${t.name}${t.trained ? ' trained' : ''}${t.coordinatorTaskId ? ' proposed' : ''}${t.upload !== 'none' ? ` upload ${t.upload}` : ''}`).join('; ') || 'none'}`,
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
