import { short } from '../dom';
import { errorBox } from '../ui';

/** What the router hands a page: the query of its hash URL (`#/adapters?task=…`). */
export interface PageContext {
  params: URLSearchParams;
}

/** A page draws itself into `main`; what it returns is called when the admin leaves it (unsubscribe). */
export type RenderPage = (main: HTMLElement, ctx: PageContext) => Promise<(() => void) | void>;

/** The name of `id` in `list` (a site, a task), or the start of the id when the list does not have it. */
export const nameIn =
  (list: readonly { id: string; name: string }[]) =>
  (id: string): string =>
    list.find((x) => x.id === id)?.name ?? short(id, 8);

/**
 * Draws a page that follows socket events. `subscriptions` are the events' unsubscribe functions (subscribed
 * before the first draw, so nothing is missed while it loads); a failed first draw unsubscribes them.
 */
export async function following(
  subscriptions: readonly (() => void)[],
  draw: () => Promise<void>,
): Promise<() => void> {
  const off = () => subscriptions.forEach((f) => f());
  try {
    await draw();
  } catch (e) {
    off();
    throw e;
  }
  return off;
}

/** Draws `main` again; a failure is shown below what is already there. */
export const redraw =
  (main: HTMLElement, what: string, draw: (main: HTMLElement) => Promise<void>) => (): Promise<void> =>
    draw(main).catch((e: unknown) => main.append(errorBox(e, `Could not reload ${what}`)));
