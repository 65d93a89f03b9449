import type { SiteSummary, TaskSummary } from '@casam/protocol';
import { get, post } from '../api';
import { badge, h, replace, short, statusKind, table, time } from '../dom';
import * as realtime from '../realtime';
import { act, canChange, empty, flash, viewerNote } from '../ui';
import { following, nameIn, redraw, type RenderPage } from './page';
import { reasonForm } from './reason-form';

type SiteName = (id: string) => string;
type Rerender = () => Promise<void>;

export const render: RenderPage = (main) =>
  following(
    [
      realtime.on('task.status_changed', (e) => {
        flash(`Task ${e.taskId} is now ${e.status}.`);
        void redraw(main, 'tasks', draw)();
      }),
    ],
    () => draw(main),
  );

async function draw(main: HTMLElement): Promise<void> {
  const [tasks, sites] = await Promise.all([
    get<TaskSummary[]>('/api/v1/tasks'),
    get<SiteSummary[]>('/api/v1/sites'),
  ]);
  const siteName = nameIn(sites);
  const rerender = redraw(main, 'tasks', draw);
  const proposed = tasks.filter((t) => t.status === 'proposed');
  const decided = tasks.filter((t) => t.status !== 'proposed');

  replace(
    main,
    h('h1', {}, 'Tasks'),
    viewerNote(),
    h('h2', { id: 'proposals-title' }, `Proposals (${proposed.length})`),
    proposed.length === 0
      ? empty('No task proposals waiting.')
      : proposed.map((t) => proposalCard(t, siteName, rerender)),
    h('h2', { id: 'tasks-title' }, 'Decided tasks'),
    decided.length === 0
      ? empty('No approved, rejected or retired tasks yet.')
      : tasksTable(decided, siteName, rerender),
  );
}

function details(t: TaskSummary, siteName: SiteName): HTMLDListElement {
  return h(
    'dl',
    { class: 'facts' },
    h('dt', {}, 'Modality'),
    h('dd', {}, t.modality),
    h('dt', {}, 'Targets'),
    h('dd', {}, t.targetStructures.join(', ')),
    h('dt', {}, 'Base model'),
    h(
      'dd',
      {},
      t.baseModel.preset,
      ' ',
      h('code', { title: t.baseModel.fingerprint }, short(t.baseModel.fingerprint, 20)),
    ),
    h('dt', {}, 'Proposed by'),
    h('dd', {}, siteName(t.proposedBySiteId), ' · ', time(t.createdAt)),
  );
}

function proposalCard(t: TaskSummary, siteName: SiteName, rerender: Rerender): HTMLElement {
  const errorSlot = h('div');
  const card = h(
    'section',
    { class: 'card', 'data-task': t.id, 'aria-label': `Proposed task ${t.name}` },
    h('h3', {}, t.name),
    details(t, siteName),
  );
  if (canChange()) {
    const approve = h('button', { type: 'button', class: 'primary' }, 'Approve task');
    approve.addEventListener('click', () =>
      act(
        approve,
        errorSlot,
        () => post(`/api/v1/tasks/${t.id}/approve`),
        () => {
          flash(`Task ${t.name} approved.`);
          return rerender();
        },
      ),
    );
    card.append(
      h('div', { class: 'row' }, approve),
      reasonForm(
        'Reject task',
        `Reason for rejecting ${t.name}`,
        errorSlot,
        (reason) => post(`/api/v1/tasks/${t.id}/reject`, { reason }),
        () => {
          flash(`Task ${t.name} rejected.`);
          return rerender();
        },
      ),
    );
  }
  card.append(errorSlot);
  return card;
}

function tasksTable(tasks: TaskSummary[], siteName: SiteName, rerender: Rerender): HTMLTableElement {
  return table(
    { 'aria-labelledby': 'tasks-title' },
    [
      'Name',
      'Status',
      'Modality',
      'Targets',
      'Proposed by',
      'Decided',
      'Adapters',
      canChange() ? 'Actions' : null,
    ],
    tasks.map((t) => {
      const errorSlot = h('div');
      return h(
        'tr',
        { 'data-task': t.id },
        h('th', { scope: 'row' }, t.name),
        h(
          'td',
          {},
          badge(t.status, statusKind(t.status)),
          t.statusReason ? h('div', { class: 'muted' }, t.statusReason) : null,
        ),
        h('td', {}, t.modality),
        h('td', {}, t.targetStructures.join(', ')),
        h('td', {}, siteName(t.proposedBySiteId)),
        h('td', {}, time(t.decidedAt)),
        h('td', {}, h('a', { href: `#/adapters?task=${encodeURIComponent(t.id)}` }, 'versions')),
        canChange()
          ? h(
              'td',
              {},
              t.status === 'approved'
                ? reasonForm(
                    'Retire',
                    `Reason for retiring ${t.name}`,
                    errorSlot,
                    (reason) => post(`/api/v1/tasks/${t.id}/retire`, { reason }),
                    () => {
                      flash(`Task ${t.name} retired.`);
                      return rerender();
                    },
                  )
                : h('span', { class: 'muted' }, 'no action'),
              errorSlot,
            )
          : null,
      );
    }),
  );
}
