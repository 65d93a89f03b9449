import { printable, printableJson } from '../cli/printable';
import type { Command } from './command';
import { openAgent } from '../use-cases/agent-context';
import { siteStatus } from '../use-cases/site-status';
import { HOME_HELP, HOME_OPTION } from './home-option';

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
    const ctx = await openAgent(v.string('home'));
    const report = await siteStatus(ctx, { offline: v.bool('offline') });
    if (v.bool('json')) {
      console.log(printableJson(report, 2));
      return;
    }
    const { coordinator, tasks } = report;
    const egressMessages = Object.values(report.egress).reduce((n, t) => n + t.messages, 0);
    const lines = [
      `site            ${report.site} (${report.siteId ?? 'not enrolled'})`,
      `key             ${report.keyFingerprint}`,
      `enrollment      ${printable(report.enrollment)}`,
      `coordinator     ${coordinator.url} (${coordinator.reachable ? 'reachable' : v.bool('offline') ? 'not asked' : 'unreachable'})${coordinator.error && coordinator.enrollment !== 'pending' ? ` — ${printable(coordinator.error)}` : ''}`,
      `base model      ${report.baseModel.preset} ${report.baseModel.weights}${report.baseModel.present ? '' : ' (MISSING)'}`,
      `backend         ${report.backend} (configured)`,
      `bundle          ${report.bundle ? `${report.bundle.version} (${report.bundle.tasks} task(s), installed ${report.bundle.installedAt})` : 'none installed'}${report.previousBundle ? `; previous ${report.previousBundle}` : ''}${report.bundleDamage ? ` — WARNING: ${report.bundleDamage}; run site-agent pull` : ''}`,
      `last sync       ${report.lastSyncAt ?? 'never'}`,
      `tasks           ${tasks.map((t) => `${t.name}${t.trained ? ' trained' : ''}${t.coordinatorStatus ? ` ${printable(t.coordinatorStatus)}${t.statusFresh ? '' : ` (last known, ${t.statusCheckedAt})`}` : ' not proposed'}${t.upload !== 'none' ? ` upload ${t.upload}` : ''}`).join('; ') || 'none'}`,
      `pending uploads ${report.pendingUploads.join(', ') || 'none'}`,
      `egress          ${egressMessages} message(s): ${
        Object.entries(report.egress)
          .map(([t, s]) => `${t} ×${s.messages} (${s.bytes} B)`)
          .join(', ') || 'none'
      }`,
    ];
    console.log(lines.join('\n'));
  },
};
