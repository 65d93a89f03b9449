import type { Admin, AuditEvent } from '@prisma/client';
import { describe, expect, it } from 'vitest';
import type { AdminRepository } from '../admins/admin.repository';
import { DEFAULT_SCRYPT_PARAMS, PasswordHasher } from '../admins/password-hasher';
import type { NewAuditEvent } from '../audit/audit-event.repository';
import type { AuditService } from '../audit/audit.service';
import type { Clock } from '../common/clock';
import { AccessTokenService } from './access-token.service';
import { LoginService } from './login.service';

const now = new Date('2026-11-26T09:00:00Z');
const meta = { address: '10.1.2.3', correlationId: 'c-1' };

/** Counts the scrypt work done, so "an unknown email costs the same" is checked, not timed. */
class CountingHasher extends PasswordHasher {
  verifications: string[] = [];
  override verify(password: string, stored: string): Promise<boolean> {
    this.verifications.push(stored);
    return super.verify(password, stored);
  }
}

async function setup(opts: { disabled?: boolean; weakHash?: boolean } = {}) {
  const fast = new PasswordHasher({ ...DEFAULT_SCRYPT_PARAMS, ln: 4 });
  const hasher = new CountingHasher({ ...DEFAULT_SCRYPT_PARAMS, ln: opts.weakHash ? 5 : 4 });
  const admin: Admin = {
    id: 'admin-1',
    email: 'ops@example.org',
    passwordHash: await fast.hash('the right password'),
    role: 'admin',
    disabledAt: opts.disabled ? now : null,
    lastLoginAt: null,
    createdAt: now,
    updatedAt: now,
  };
  const calls = { recordLogin: 0, rehashed: [] as string[] };
  const admins = {
    findByEmail: async (email: string) => (email === admin.email ? admin : null),
    recordLogin: async () => void calls.recordLogin++,
    setPasswordHash: async (_: string, h: string) => void calls.rehashed.push(h),
  } as unknown as AdminRepository;
  const audited: NewAuditEvent[] = [];
  const audit = {
    record: async (e: NewAuditEvent) => (audited.push(e), e as unknown as AuditEvent),
  } as unknown as AuditService;
  const clock = { now: () => now } as Clock;
  const tokens = new AccessTokenService(new Uint8Array(32).fill(1), clock);
  const service = new LoginService(admins, hasher, tokens, audit, clock);
  return { service, hasher, audited, calls, admin, tokens };
}

describe('LoginService', () => {
  it('issues an admin token for the right password and audits the success', async () => {
    const { service, audited, calls, tokens } = await setup();
    const r = await service.login(' OPS@example.org', 'the right password', meta);
    expect(r).toMatchObject({ tokenType: 'Bearer', admin: { id: 'admin-1', role: 'admin' } });
    expect(r.expiresAt).toBe(new Date(now.getTime() + 15 * 60_000).toISOString());
    expect(await tokens.verify(r.accessToken)).toMatchObject({
      kind: 'admin',
      sub: 'admin-1',
      role: 'admin',
    });
    expect(calls.recordLogin).toBe(1);
    expect(calls.rehashed).toEqual([]);
    expect(audited).toEqual([
      expect.objectContaining({
        action: 'admin.login_succeeded',
        actorId: 'admin-1',
        address: '10.1.2.3',
        correlationId: 'c-1',
      }),
    ]);
  });

  it('checks a dummy hash for an unknown email, so both failures cost one scrypt verification', async () => {
    const { service, hasher, audited, admin } = await setup();
    await expect(service.login('ops@example.org', 'wrong', meta)).rejects.toMatchObject({
      code: 'invalid_credentials',
    });
    await expect(service.login('nobody@example.org', 'wrong', meta)).rejects.toMatchObject({
      code: 'invalid_credentials',
    });
    await expect(service.login('ghost@example.org', 'wrong', meta)).rejects.toMatchObject({
      code: 'invalid_credentials',
    });
    expect(hasher.verifications).toHaveLength(3);
    expect(hasher.verifications[0]).toBe(admin.passwordHash);
    expect(hasher.verifications[1]).toMatch(/^\$scrypt\$ln=4,/); // a real hash with the current parameters
    expect(hasher.verifications[2]).toBe(hasher.verifications[1]); // made once
    expect(audited.map((a) => [a.action, a.outcome, (a.details as { reason: string }).reason])).toEqual([
      ['admin.login_failed', 'denied', 'wrong_password'],
      ['admin.login_failed', 'denied', 'unknown_email'],
      ['admin.login_failed', 'denied', 'unknown_email'],
    ]);
  });

  it('refuses a disabled account only after the password checks out', async () => {
    const { service, audited, calls } = await setup({ disabled: true });
    await expect(service.login('ops@example.org', 'the right password', meta)).rejects.toMatchObject({
      code: 'account_disabled',
      status: 401,
    });
    await expect(service.login('ops@example.org', 'wrong', meta)).rejects.toMatchObject({
      code: 'invalid_credentials',
    });
    expect(calls.recordLogin).toBe(0);
    expect(audited.map((a) => (a.details as { reason: string }).reason)).toEqual([
      'disabled',
      'wrong_password',
    ]);
  });

  it('upgrades a hash made with weaker parameters at login', async () => {
    const { service, calls } = await setup({ weakHash: true });
    await service.login('ops@example.org', 'the right password', meta);
    expect(calls.rehashed).toHaveLength(1);
    expect(calls.rehashed[0]).toMatch(/^\$scrypt\$ln=5,/);
  });
});
