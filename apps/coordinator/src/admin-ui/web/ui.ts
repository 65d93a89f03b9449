import { ApiError } from './api';
import { h, type Child } from './dom';
import * as session from './session';

/** An API failure as the admin sees it: what went wrong, its code and the correlation id to quote. */
export function errorBox(err: unknown, what = 'That did not work'): HTMLDivElement {
  const e = err instanceof ApiError ? err : null;
  const code = e?.code ?? null;
  const box = h(
    'div',
    { class: 'error', role: 'alert' },
    h('strong', {}, `${what}: `),
    err instanceof Error ? err.message : String(err),
    h('br'),
    h('span', { class: 'muted' }, 'code '),
    h('code', { 'data-error-code': code ?? '' }, code ?? 'unknown'),
  );
  if (e?.correlationId)
    box.append(
      h('span', { class: 'muted' }, ' · correlation id '),
      h('code', { 'data-correlation-id': e.correlationId }, e.correlationId),
    );
  return box;
}

export const empty = (text: string): HTMLParagraphElement => h('p', { class: 'empty' }, text);
export const loading = (text: string): HTMLParagraphElement =>
  h('p', { class: 'muted', role: 'status' }, text);

/** A short message in the page's live region. */
export function flash(text: Child): void {
  document.getElementById('flash')?.replaceChildren(h('div', { class: 'notice' }, text));
}

export const canChange = (): boolean => session.isAdmin();

export function viewerNote(): HTMLParagraphElement | null {
  return canChange()
    ? null
    : h(
        'p',
        { class: 'viewer-note' },
        'You are signed in as a viewer: you can see everything and change nothing.',
      );
}

/**
 * Runs an action of a button: disables it while it runs, shows the error (with its correlation id) in
 * `errorSlot` on failure, then calls `after` on success.
 */
export async function act<T>(
  button: HTMLButtonElement,
  errorSlot: Element,
  run: () => Promise<T>,
  after?: (result: T) => unknown,
): Promise<void> {
  button.disabled = true;
  const label = button.textContent;
  button.textContent = `${label}…`;
  errorSlot.replaceChildren();
  try {
    const result = await run();
    await after?.(result);
  } catch (e) {
    errorSlot.replaceChildren(errorBox(e));
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}
