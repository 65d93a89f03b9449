import { field, h } from '../dom';
import { act } from '../ui';

/** A reason field with its button (reject, revoke, retire): the API wants 1–2000 characters. */
export function reasonForm<T>(
  action: string,
  label: string,
  errorSlot: Element,
  run: (reason: string) => Promise<T>,
  after: (result: T) => unknown,
): HTMLFormElement {
  const [f, input] = field(label, { name: 'reason', maxlength: 2000, required: true, size: 30 });
  const button = h('button', { type: 'submit', class: 'danger' }, action);
  const form = h('form', { class: 'row' }, f, button);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void act(button, errorSlot, () => run(input.value.trim()), after);
  });
  return form;
}
