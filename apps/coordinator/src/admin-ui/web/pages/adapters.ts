import type { AdapterTauStats, AdapterVersionSummary, SiteSummary, TaskSummary } from '@casam/protocol';
import { adapterKindText, compatibilityText } from '../adapter-kind';
import { download, get, post } from '../api';
import { lineChart } from '../chart';
import { badge, bytes, field, h, num, replace, short, statusKind, table, time } from '../dom';
import { act, canChange, empty, flash, viewerNote } from '../ui';
import { nameIn, type RenderPage } from './page';
import { reasonForm } from './reason-form';

const TAU_KEYS = ['tau', 'p95', 'p99', 'mean', 'std'] as const satisfies readonly (keyof AdapterTauStats)[];

type SiteName = (id: string) => string;

export const render: RenderPage = async (main, { params }) => {
  const [tasks, sites] = await Promise.all([
    get<TaskSummary[]>('/api/v1/tasks'),
    get<SiteSummary[]>('/api/v1/sites'),
  ]);
  const siteName = nameIn(sites);
  const first = tasks[0];
  if (!first) {
    replace(
      main,
      h('h1', {}, 'Adapters'),
      empty('No tasks yet: adapters belong to a task, and no site has proposed one.'),
    );
    return;
  }
  const preferred =
    tasks.find((t) => t.id === params.get('task')) ?? tasks.find((t) => t.status === 'approved') ?? first;
  const [selectField, select] = field(
    'Task',
    { tag: 'select', name: 'task' },
    tasks.map((t) =>
      h('option', { value: t.id, selected: t.id === preferred.id }, `${t.name} (${t.status})`),
    ),
  );
  select.addEventListener(
    'change',
    () => (location.hash = `#/adapters?task=${encodeURIComponent(select.value)}`),
  );
  const body = h('div');
  replace(main, h('h1', {}, 'Adapters'), viewerNote(), selectField, body);
  await renderTask(body, preferred, siteName);
};

async function renderTask(body: HTMLElement, task: TaskSummary, siteName: SiteName): Promise<void> {
  const versions = await get<AdapterVersionSummary[]>(`/api/v1/tasks/${task.id}/adapters`);
  const rerender = () => renderTask(body, task, siteName);
  if (versions.length === 0) {
    replace(body, empty(`No adapter versions for ${task.name} yet.`));
    return;
  }
  const metricNames = [...new Set(versions.flatMap((v) => Object.keys(v.metrics)))].sort();
  replace(
    body,
    h('h2', {}, `Validation metrics over versions`),
    h(
      'div',
      { class: 'row' },
      lineChart({
        title: `${task.name}: site-reported validation metrics per version`,
        yLabel: 'metric',
        series: metricNames.map((m) => ({
          name: m,
          points: versions.map((v) => ({ x: v.version, y: v.metrics[m] })),
        })),
      }),
      lineChart({
        title: `${task.name}: τ statistics per version`,
        yLabel: 'VAE score',
        series: TAU_KEYS.map((k) => ({
          name: k === 'tau' ? 'τ' : k,
          points: versions.map((v) => ({ x: v.version, y: v.tau[k] })),
        })),
      }),
    ),
    h('h2', { id: 'versions-title' }, `Versions of ${task.name}`),
    table(
      { 'aria-labelledby': 'versions-title' },
      [
        'Version',
        'Kind',
        'Status',
        'From',
        ...metricNames,
        'τ',
        'p95 / p99',
        'mean ± std',
        'n',
        'File',
        'Uploaded',
        canChange() ? 'Decision' : null,
      ],
      [...versions].reverse().map((v) => row(v, task, metricNames, siteName, rerender)),
    ),
  );
}

/** What the version carries (Alignment Layer, or with a decoder delta), shown in its row and beside Approve. */
function kindNote(v: AdapterVersionSummary, tag: 'td' | 'div'): HTMLElement {
  return h(tag, { class: 'adapter-kind', 'data-adapter-kind': v.kind }, adapterKindText(v));
}

/** The site's validation verdict (against frozen SAM and box-fill), shown where the admin decides. */
function verdictNote(v: AdapterVersionSummary): HTMLElement | null {
  if (!v.verdict) return null;
  const kind = v.verdict.kind === 'recommended' ? 'ok' : v.verdict.kind === 'unknown' ? 'muted' : 'warn';
  return h('div', { class: `verdict verdict-${kind}`, 'data-verdict': v.verdict.kind }, v.verdict.text);
}

/** Enrolled sites whose agent cannot read this version's format, shown beside Approve (approving stays possible). */
function compatibilityNote(v: AdapterVersionSummary): HTMLElement | null {
  const text = compatibilityText(v);
  if (!text) return null;
  return h(
    'div',
    {
      class: 'verdict verdict-warn compatibility-warning',
      'data-sites-unable-to-read': String(v.compatibility!.sitesUnableToRead.length),
    },
    text,
  );
}

function row(
  v: AdapterVersionSummary,
  task: TaskSummary,
  metricNames: string[],
  siteName: SiteName,
  rerender: () => Promise<void>,
): HTMLTableRowElement {
  const errorSlot = h('div');
  const dl = h('button', { type: 'button' }, 'Download');
  dl.addEventListener('click', () =>
    act(dl, errorSlot, () =>
      download(`/api/v1/adapters/${v.id}/file`, `${task.name}-v${v.version}.safetensors`),
    ),
  );
  let decision: HTMLElement | null = null;
  if (canChange()) {
    if (v.status === 'pending') {
      const approve = h('button', { type: 'button', class: 'primary' }, `Approve v${v.version}`);
      approve.addEventListener('click', () =>
        act(
          approve,
          errorSlot,
          () => post(`/api/v1/adapters/${v.id}/approve`),
          () => {
            flash(`${task.name} v${v.version} approved: the next bundle is being published.`);
            return rerender();
          },
        ),
      );
      decision = h(
        'td',
        {},
        kindNote(v, 'div'),
        verdictNote(v),
        compatibilityNote(v),
        approve,
        reasonForm(
          `Reject v${v.version}`,
          `Reason for rejecting v${v.version}`,
          errorSlot,
          (reason) => post(`/api/v1/adapters/${v.id}/reject`, { reason }),
          () => {
            flash(`${task.name} v${v.version} rejected.`);
            return rerender();
          },
        ),
        errorSlot,
      );
    } else decision = h('td', {}, h('span', { class: 'muted' }, 'decided ', time(v.decidedAt)), errorSlot);
  }
  return h(
    'tr',
    { 'data-adapter': v.id },
    h('th', { scope: 'row' }, `v${v.version}`),
    kindNote(v, 'td'),
    h(
      'td',
      {},
      badge(v.status, statusKind(v.status)),
      v.statusReason ? h('div', { class: 'muted' }, v.statusReason) : null,
    ),
    h('td', {}, siteName(v.siteId)),
    metricNames.map((m) => h('td', {}, num(v.metrics[m]))),
    // The percentile τ was taken at: the paper's 97th unless the site chose another (train --tau-percentile).
    h(
      'td',
      { 'data-tau-percentile': String(v.tau.percentile) },
      num(v.tau.tau),
      ' ',
      h('span', { class: 'muted' }, `(p${v.tau.percentile})`),
    ),
    h('td', {}, `${num(v.tau.p95)} / ${num(v.tau.p99)}`),
    h('td', {}, `${num(v.tau.mean)} ± ${num(v.tau.std)}`),
    h('td', {}, String(v.tau.n)),
    h(
      'td',
      {},
      h('code', { title: v.sha256 }, short(v.sha256, 10)),
      ' ',
      bytes(v.sizeBytes),
      ' ',
      dl,
      canChange() ? null : errorSlot,
    ),
    h('td', {}, time(v.createdAt)),
    decision,
  );
}
