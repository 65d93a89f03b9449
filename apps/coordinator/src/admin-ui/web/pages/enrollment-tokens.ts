import type {
  CreateEnrollmentTokenRequest,
  CreatedEnrollmentToken,
  EnrollmentTokenSummary,
  SiteSummary,
} from '@casam/protocol';
import { get, post } from '../api';
import { badge, field, h, replace, short, statusKind, table, time } from '../dom';
import { act, canChange, empty } from '../ui';
import { nameIn } from './page';

const VALIDITY: [number, string][] = [
  [3600, '1 hour'],
  [86400, '24 hours'],
  [7 * 86400, '7 days'],
];

/** The enrollment-token section of the Sites page: make a one-time token for a hospital, list, revoke. */
export async function enrollmentTokens(sites: SiteSummary[]): Promise<HTMLElement> {
  const section = h(
    'section',
    { 'aria-labelledby': 'tokens-title' },
    h('h2', { id: 'tokens-title' }, 'Enrollment tokens'),
  );
  const errorSlot = h('div');
  const created = h('div', { 'aria-live': 'polite' });
  const list = h('div');
  const siteName = nameIn(sites);

  const draw = async (): Promise<void> => {
    const tokens = await get<EnrollmentTokenSummary[]>('/api/v1/enrollment-tokens');
    if (tokens.length === 0) {
      replace(list, empty('No enrollment tokens yet.'));
      return;
    }
    replace(
      list,
      table(
        { 'aria-labelledby': 'tokens-title' },
        ['Label', 'State', 'Expires', 'Used by', 'Created', canChange() ? 'Actions' : null],
        [...tokens]
          .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
          .map((t) => {
            let action: HTMLElement | null = null;
            if (canChange()) {
              if (t.state === 'active') {
                const revoke = h(
                  'button',
                  { type: 'button', class: 'danger' },
                  `Revoke token ${t.label ?? short(t.id, 8)}`,
                );
                revoke.addEventListener('click', () =>
                  act(revoke, errorSlot, () => post(`/api/v1/enrollment-tokens/${t.id}/revoke`), draw),
                );
                action = h('td', {}, revoke);
              } else action = h('td', {}, h('span', { class: 'muted' }, 'no action'));
            }
            return h(
              'tr',
              { 'data-token': t.id },
              h('th', { scope: 'row' }, t.label ?? h('span', { class: 'muted' }, 'no label')),
              h(
                'td',
                {},
                badge(
                  t.state,
                  statusKind(t.state === 'active' ? 'pending' : t.state === 'used' ? 'approved' : t.state),
                ),
              ),
              h('td', {}, time(t.expiresAt)),
              h('td', {}, t.usedBySiteId ? siteName(t.usedBySiteId) : '—'),
              h('td', {}, time(t.createdAt)),
              action,
            );
          }),
      ),
    );
  };

  if (canChange()) {
    const [labelField, label] = field('Hospital (label)', { name: 'label', maxlength: 200, size: 30 });
    const [ttlField, ttl] = field(
      'Valid for',
      { tag: 'select', name: 'ttlSeconds' },
      VALIDITY.map(([s, text]) => h('option', { value: s, selected: s === 86400 }, text)),
    );
    const make = h('button', { type: 'submit', class: 'primary' }, 'Create enrollment token');
    const form = h(
      'form',
      { class: 'row card', 'aria-label': 'New enrollment token' },
      labelField,
      ttlField,
      make,
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const body: CreateEnrollmentTokenRequest = {
        ttlSeconds: Number(ttl.value),
        ...(label.value.trim() ? { label: label.value.trim() } : {}),
      };
      void act(
        make,
        errorSlot,
        () => post<CreatedEnrollmentToken>('/api/v1/enrollment-tokens', body),
        async (t) => {
          replace(
            created,
            h(
              'div',
              { class: 'notice' },
              h(
                'p',
                {},
                `Token for ${t.label ?? 'the hospital'} (shown this once; hand it over a channel you trust; valid until `,
                time(t.expiresAt),
                '):',
              ),
              h('p', {}, h('code', { id: 'new-enrollment-token' }, t.token)),
              h('p', { class: 'muted' }, 'The hospital runs: site-agent enroll --token <token>'),
            ),
          );
          label.value = '';
          await draw();
        },
      );
    });
    section.append(form);
  }
  section.append(created, errorSlot, list);
  await draw();
  return section;
}
