import type { Admin, AuditEvent } from '@prisma/client';
import { describe, expect, it } from 'vitest';
import type { NewAuditEvent } from '../audit/audit-event.repository';
import type { AuditService } from '../audit/audit.service';
import type { Clock } from '../common/clock';
import { InvalidEmailError, WeakPasswordError } from './admin.errors';
import type { AdminRepository, NewAdmin } from './admin.repository';
import { AdminsService } from './admins.service';
import { DEFAULT_SCRYPT_PARAMS, PasswordHasher } from './password-hasher';

const now = new Date('2026-11-26T09:00:00Z');

function setup() {
  const created: NewAdmin[] = [];
  const audited: NewAuditEvent[] = [];
  const admins = {
    create: async (a: NewAdmin) => {
      created.push(a);
      return {
        ...a,
        id: 'admin-1',
        disabledAt: null,
        lastLoginAt: null,
        createdAt: now,
        updatedAt: now,
      } satisfies Admin;
    },
  } as unknown as AdminRepository;
  const audit = {
    record: async (e: NewAuditEvent) => {
      audited.push(e);
      return e as unknown as AuditEvent;
    },
  } as unknown as AuditService;
  const clock = { now: () => now } as Clock;
  const hasher = new PasswordHasher({ ...DEFAULT_SCRYPT_PARAMS, ln: 10 });
  return { service: new AdminsService(admins, hasher, audit, clock), created, audited, hasher };
}

describe('AdminsService.createAdmin', () => {
  it('normalises the email, stores only a hash, and audits the creation', async () => {
    const { service, created, audited, hasher } = setup();
    const admin = await service.createAdmin({
      email: '  Ops@Example.ORG ',
      role: 'admin',
      password: 'twelve chars!',
      via: 'cli',
    });
    expect(admin.email).toBe('ops@example.org');
    expect(created[0].passwordHash).not.toContain('twelve');
    expect(await hasher.verify('twelve chars!', created[0].passwordHash)).toBe(true);
    expect(audited).toEqual([
      {
        actorType: 'system',
        action: 'admin.created',
        targetType: 'admin',
        targetId: 'admin-1',
        details: { email: 'ops@example.org', role: 'admin', via: 'cli' },
        createdAt: now,
      },
    ]);
  });

  it('refuses bad emails and weak passwords before touching storage', async () => {
    const { service, created } = setup();
    await expect(
      service.createAdmin({ email: 'not-an-email', role: 'admin', password: 'x'.repeat(20), via: 'cli' }),
    ).rejects.toBeInstanceOf(InvalidEmailError);
    await expect(
      service.createAdmin({ email: 'a@b.org', role: 'admin', password: 'short', via: 'cli' }),
    ).rejects.toBeInstanceOf(WeakPasswordError);
    await expect(
      service.createAdmin({ email: 'a@b.org', role: 'admin', password: ' '.repeat(20), via: 'cli' }),
    ).rejects.toThrow(/white space/);
    await expect(
      service.createAdmin({
        email: 'maria@b.org',
        role: 'admin',
        password: 'maria-is-great-2026',
        via: 'cli',
      }),
    ).rejects.toThrow(/email name/);
    expect(created).toEqual([]);
  });
});
