import { get, post } from '../api.js';
import { badge, h, replace, short, statusKind, time } from '../dom.js';
import * as realtime from '../realtime.js';
import { act, canChange, empty, errorBox, flash, viewerNote } from '../ui.js';
import { reasonForm } from './sites.js';

export async function render(main) {
  const off = realtime.on('task.status_changed', (e) => {
    flash(`Task ${e.taskId} is now ${e.status}.`);
    void draw(main).catch((err) => main.append(errorBox(err, 'Could not reload tasks')));
  });
  try {
    await draw(main);
  } catch (e) {
    off();
    throw e;
  }
  return off;
}

async function draw(main) {
  const [tasks, sites] = await Promise.all([get('/api/v1/tasks'), get('/api/v1/sites')]);
  const siteName = (id) => sites.find((s) => s.id === id)?.name ?? short(id, 8);
  const rerender = () => draw(main).catch((e) => main.append(errorBox(e, 'Could not reload tasks')));
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

function details(t, siteName) {
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

function proposalCard(t, siteName, rerender) {
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

function tasksTable(tasks, siteName, rerender) {
  return h(
    'table',
    { 'aria-labelledby': 'tasks-title' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        [
          'Name',
          'Status',
          'Modality',
          'Targets',
          'Proposed by',
          'Decided',
          'Adapters',
          canChange() ? 'Actions' : null,
        ]
          .filter(Boolean)
          .map((c) => h('th', { scope: 'col' }, c)),
      ),
    ),
    h(
      'tbody',
      {},
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
    ),
  );
}
