import type { SiteSummary, TaskSummary } from '@casam/protocol';
import { get } from '../api';
import { h, num, replace, table, time } from '../dom';
import * as realtime from '../realtime';
import { empty } from '../ui';
import { nameIn, type RenderPage } from './page';

/** Live training progress: the coordinator relays sites' reports to admins and keeps none, so this page shows what arrived since sign-in. */
export const render: RenderPage = async (main) => {
  const [tasks, sites] = await Promise.all([
    get<TaskSummary[]>('/api/v1/tasks'),
    get<SiteSummary[]>('/api/v1/sites'),
  ]);
  const taskName = nameIn(tasks);
  const siteName = nameIn(sites);
  const body = h('div', { 'aria-live': 'polite' });
  const draw = () => {
    const runs = [...realtime.trainingLog.values()]
      .map((list) => list.at(-1)!)
      .sort((a, b) => b.at.localeCompare(a.at));
    if (runs.length === 0) {
      replace(
        body,
        empty('No training reports since you signed in. Sites report while they train (site-agent train).'),
      );
      return;
    }
    replace(
      body,
      table(
        { 'aria-label': 'Latest report per site and task' },
        ['Site', 'Task', 'Stage', 'Progress', 'Loss', 'Metrics', 'Reported'],
        runs.map((p) =>
          h(
            'tr',
            { 'data-training': `${p.siteId}/${p.taskId}` },
            h('th', { scope: 'row' }, siteName(p.siteId)),
            h('td', {}, taskName(p.taskId)),
            h('td', {}, p.stage),
            h(
              'td',
              {},
              h('progress', {
                max: Math.max(1, p.epochs),
                value: p.epoch,
                'aria-label': `epoch ${p.epoch} of ${p.epochs}`,
              }),
              ` epoch ${p.epoch} / ${p.epochs}`,
            ),
            h('td', {}, num(p.loss, 4)),
            h(
              'td',
              {},
              Object.entries(p.metrics ?? {})
                .map(([k, v]) => `${k} ${num(v)}`)
                .join(', ') || '—',
            ),
            h('td', {}, time(p.at)),
          ),
        ),
      ),
    );
  };
  replace(main, h('h1', {}, 'Live training progress'), body);
  draw();
  return realtime.on('training.progress', () => draw());
};
