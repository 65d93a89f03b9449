/**
 * Task orders of a continual benchmark: the given (paper) order first, then seeded shuffles, all distinct. The
 * k-th extra order is drawn from deriveSeed(seed, 'task-order', k, attempt), so adding orders never changes the
 * earlier ones.
 */
import { createRng, deriveSeed, shuffledIndices } from '@casam/casam-core';

export class TaskOrderError extends Error {
  override name = 'TaskOrderError';
}

export interface TaskOrdersOptions {
  /** Orders in all, the given one included (default 3). */
  count?: number;
  seed?: number;
}

function factorial(n: number): number {
  let f = 1;
  for (let i = 2; i <= n; i++) f *= i;
  return f;
}

export function continualTaskOrders(tasks: readonly string[], opts: TaskOrdersOptions = {}): string[][] {
  const count = opts.count ?? 3;
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(count) || count < 1)
    throw new TaskOrderError(`count must be a positive integer, got ${count}`);
  if (new Set(tasks).size !== tasks.length) throw new TaskOrderError('task names must be distinct');
  if (count > factorial(tasks.length))
    throw new TaskOrderError(`${tasks.length} tasks have fewer than ${count} distinct orders`);
  const orders: string[][] = [[...tasks]];
  const seen = new Set([tasks.join('\0')]);
  for (let k = 1; k < count; k++) {
    for (let attempt = 0; ; attempt++) {
      if (attempt > 1000) throw new TaskOrderError('could not draw a new distinct order');
      const idx = shuffledIndices(tasks.length, createRng(deriveSeed(seed, 'task-order', k, attempt)));
      const order = Array.from(idx, (i) => tasks[i]);
      const key = order.join('\0');
      if (seen.has(key)) continue;
      seen.add(key);
      orders.push(order);
      break;
    }
  }
  return orders;
}
