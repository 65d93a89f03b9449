import { describe, expect, it } from 'vitest';
import { TaskOrderError, continualTaskOrders } from './task-orders';

const TASKS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];

describe('continualTaskOrders', () => {
  it('starts with the given order, then distinct seeded permutations of the same tasks', () => {
    const orders = continualTaskOrders(TASKS, { count: 4, seed: 1 });
    expect(orders).toHaveLength(4);
    expect(orders[0]).toEqual(TASKS);
    for (const o of orders) expect([...o].sort()).toEqual(TASKS);
    expect(new Set(orders.map((o) => o.join())).size).toBe(4);
  });

  it('is deterministic, and adding orders keeps the earlier ones', () => {
    const three = continualTaskOrders(TASKS, { count: 3, seed: 7 });
    expect(continualTaskOrders(TASKS, { count: 3, seed: 7 })).toEqual(three);
    expect(continualTaskOrders(TASKS, { count: 5, seed: 7 }).slice(0, 3)).toEqual(three);
    expect(continualTaskOrders(TASKS, { count: 3, seed: 8 })).not.toEqual(three);
  });

  it('finds every order of a small set and refuses to invent more', () => {
    const orders = continualTaskOrders(['x', 'y', 'z'], { count: 6, seed: 3 });
    expect(new Set(orders.map((o) => o.join())).size).toBe(6);
    expect(() => continualTaskOrders(['x', 'y', 'z'], { count: 7 })).toThrow(TaskOrderError);
    expect(() => continualTaskOrders(['x', 'x'])).toThrow(/distinct/);
    expect(() => continualTaskOrders(TASKS, { count: 0 })).toThrow(/positive/);
  });
});
