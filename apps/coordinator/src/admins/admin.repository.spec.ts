import { beforeEach, expect, it } from 'vitest';
import { describeEachBackend, truncateAll } from '../../testing/test-database';
import { AdminEmailTakenError } from './admin.errors';
import { AdminRepository } from './admin.repository';

describeEachBackend('AdminRepository', (db) => {
  let admins: AdminRepository;
  beforeEach(async () => {
    await truncateAll(db());
    admins = new AdminRepository(db());
  });

  it('creates and finds admins by id and email', async () => {
    const a = await admins.create({
      email: 'ops@hospital.example',
      passwordHash: '$scrypt$x',
      role: 'admin',
    });
    expect(a).toMatchObject({
      email: 'ops@hospital.example',
      role: 'admin',
      disabledAt: null,
      lastLoginAt: null,
    });
    expect(a.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.createdAt).toBeInstanceOf(Date);
    expect(await admins.findById(a.id)).toEqual(a);
    expect(await admins.findByEmail('ops@hospital.example')).toEqual(a);
    expect(await admins.findByEmail('nobody@hospital.example')).toBeNull();
    expect(await admins.findById('00000000-0000-4000-8000-000000000000')).toBeNull();
  });

  it('refuses a second admin with the same email with a domain error', async () => {
    await admins.create({ email: 'dup@x.example', passwordHash: 'h', role: 'admin' });
    await expect(
      admins.create({ email: 'dup@x.example', passwordHash: 'h', role: 'viewer' }),
    ).rejects.toBeInstanceOf(AdminEmailTakenError);
    expect(await admins.count()).toBe(1);
  });

  it('lists and counts by role, oldest first', async () => {
    await admins.create({ email: 'a@x.example', passwordHash: 'h', role: 'admin' });
    await admins.create({ email: 'v1@x.example', passwordHash: 'h', role: 'viewer' });
    await admins.create({ email: 'v2@x.example', passwordHash: 'h', role: 'viewer' });
    expect((await admins.list()).map((a) => a.email)).toEqual([
      'a@x.example',
      'v1@x.example',
      'v2@x.example',
    ]);
    expect((await admins.list({ role: 'viewer' })).map((a) => a.email)).toEqual([
      'v1@x.example',
      'v2@x.example',
    ]);
    expect(await admins.count({ role: 'admin' })).toBe(1);
  });

  it('records logins, password changes and disabling, and says when the admin does not exist', async () => {
    const a = await admins.create({ email: 'b@x.example', passwordHash: 'old', role: 'admin' });
    const at = new Date('2026-11-26T10:00:00.123Z');
    expect(await admins.recordLogin(a.id, at)).toBe(true);
    expect(await admins.setPasswordHash(a.id, 'new')).toBe(true);
    expect(await admins.setDisabled(a.id, at)).toBe(true);
    expect(await admins.findById(a.id)).toMatchObject({
      lastLoginAt: at,
      passwordHash: 'new',
      disabledAt: at,
    });
    expect(await admins.setDisabled(a.id, null)).toBe(true);
    expect((await admins.findById(a.id))?.disabledAt).toBeNull();
    const ghost = '00000000-0000-4000-8000-000000000000';
    expect(await admins.recordLogin(ghost, at)).toBe(false);
    expect(await admins.setPasswordHash(ghost, 'x')).toBe(false);
  });
});
