import { get } from '../api.js';
import { h, num, replace, short, time } from '../dom.js';
import * as realtime from '../realtime.js';
import { empty } from '../ui.js';

/** Live training progress: the coordinator relays sites' reports to admins and keeps none, so this page shows what arrived since sign-in. */
export async function render(main) {
  const [tasks, sites] = await Promise.all([get('/api/v1/tasks'), get('/api/v1/sites')]);
  const taskName = (id) => tasks.find((t) => t.id === id)?.name ?? short(id, 8);
  const siteName = (id) => sites.find((s) => s.id === id)?.name ?? short(id, 8);
  const body = h('div', { 'aria-live': 'polite' });
  const draw = () => {
    const runs = [...realtime.trainingLog.values()]
      .map((list) => list.at(-1))
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
      h(
        'table',
        { 'aria-label': 'Latest report per site and task' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Site', 'Task', 'Stage', 'Progress', 'Loss', 'Metrics', 'Reported'].map((c) =>
              h('th', { scope: 'col' }, c),
            ),
          ),
        ),
        h(
          'tbody',
          {},
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
      ),
    );
  };
  replace(main, h('h1', {}, 'Live training progress'), body);
  draw();
  return realtime.on('training.progress', () => draw());
}
