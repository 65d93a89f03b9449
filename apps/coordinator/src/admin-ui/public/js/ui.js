import { h } from './dom.js';
import * as session from './session.js';

/** An API failure as the admin sees it: what went wrong, its code and the correlation id to quote. */
export function errorBox(err, what = 'That did not work') {
  const box = h(
    'div',
    { class: 'error', role: 'alert' },
    h('strong', {}, `${what}: `),
    err.message ?? String(err),
    h('br'),
    h('span', { class: 'muted' }, 'code '),
    h('code', { 'data-error-code': err.code ?? '' }, err.code ?? 'unknown'),
  );
  if (err.correlationId)
    box.append(
      h('span', { class: 'muted' }, ' · correlation id '),
      h('code', { 'data-correlation-id': err.correlationId }, err.correlationId),
    );
  return box;
}

export const empty = (text) => h('p', { class: 'empty' }, text);
export const loading = (text) => h('p', { class: 'muted', role: 'status' }, text);

/** A short message in the page's live region. */
export function flash(text) {
  const el = document.getElementById('flash');
  el.replaceChildren(h('div', { class: 'notice' }, text));
}

export const canChange = () => session.isAdmin();

export function viewerNote() {
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
export async function act(button, errorSlot, run, after) {
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
