import type { LoginResponse } from '@casam/protocol';
import { api } from '../api';
import { field, h, replace } from '../dom';
import * as session from '../session';
import { errorBox } from '../ui';

export async function render(
  main: HTMLElement,
  { onSignedIn }: { onSignedIn: () => Promise<void> },
): Promise<void> {
  const message = session.lastMessage();
  const [emailField, email] = field('Email', {
    type: 'email',
    name: 'email',
    autocomplete: 'username',
    required: true,
  });
  const [pwField, password] = field('Password', {
    type: 'password',
    name: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const errorSlot = h('div');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h(
    'form',
    { class: 'card sign-in', 'aria-labelledby': 'sign-in-title' },
    emailField,
    pwField,
    h('div', { class: 'row' }, submit),
    errorSlot,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    errorSlot.replaceChildren();
    try {
      const login = await api<LoginResponse>('POST', '/api/v1/auth/login', {
        email: email.value.trim(),
        password: password.value,
      });
      session.start(login);
      password.value = '';
      await onSignedIn();
    } catch (e) {
      errorSlot.replaceChildren(errorBox(e, 'Sign-in failed'));
      submit.disabled = false;
      submit.textContent = 'Sign in';
      password.focus();
    }
  });
  replace(
    main,
    h('h1', { id: 'sign-in-title' }, 'Sign in'),
    message ? h('p', { class: 'notice', id: 'sign-in-message', role: 'status' }, message) : null,
    h(
      'p',
      { class: 'muted' },
      'Use your coordinator admin account (accounts are created with `coordinator create-admin` or by an admin).',
    ),
    form,
  );
  email.focus();
}
