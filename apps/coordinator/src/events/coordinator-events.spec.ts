import { describe, expect, it } from 'vitest';
import { CoordinatorEvents } from './coordinator-events';

describe('CoordinatorEvents', () => {
  it('awaits every handler of the type, and only of that type', async () => {
    const bus = new CoordinatorEvents();
    const seen: string[] = [];
    bus.on('site.revoked', async (e) => {
      await new Promise((r) => setTimeout(r, 5));
      seen.push(`slow ${e.siteId}`);
    });
    const off = bus.on('site.revoked', (e) => void seen.push(`fast ${e.siteId}`));
    bus.on('site.approved', () => void seen.push('wrong type'));
    await bus.emit({ type: 'site.revoked', siteId: 's1' });
    expect(seen.sort()).toEqual(['fast s1', 'slow s1']);
    off();
    await bus.emit({ type: 'site.revoked', siteId: 's2' });
    expect(seen).toContain('slow s2');
    expect(seen).not.toContain('fast s2');
  });

  it('never fails the emitter when a handler throws', async () => {
    const bus = new CoordinatorEvents();
    let after = false;
    bus.on('bundle.published', () => {
      throw new Error('boom');
    });
    bus.on('bundle.published', () => void (after = true));
    await expect(
      bus.emit({
        type: 'bundle.published',
        version: 1,
        contentHash: 'x',
        createdAt: '2026-01-01T00:00:00.000Z',
      }),
    ).resolves.toBeUndefined();
    expect(after).toBe(true);
  });
});
