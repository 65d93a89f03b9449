import { Injectable } from '@nestjs/common';
import type { Admin, AdminRole } from '@prisma/client';
import { AuditEventRepository } from '../audit/audit-event.repository';
import { Clock } from '../common/clock';
import { AdminRepository } from './admin.repository';
import { InvalidEmailError, WeakPasswordError } from './admin.errors';
import { PasswordHasher } from './password-hasher';

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;
const EMAIL = /^[^\s@]{1,64}@[^\s@]+\.[^\s@]+$/;

/** Admin accounts: who they are and how they are created. Login and tokens come with the auth module. */
@Injectable()
export class AdminsService {
  constructor(
    private readonly admins: AdminRepository,
    private readonly hasher: PasswordHasher,
    private readonly audit: AuditEventRepository,
    private readonly clock: Clock,
  ) {}

  /**
   * Creates an admin account. There is no default password anywhere: the first admin is created by the
   * operator through the CLI, with a password they type.
   */
  async createAdmin(input: {
    email: string;
    role: AdminRole;
    password: string;
    via: string;
  }): Promise<Admin> {
    const email = normalizeEmail(input.email);
    checkPassword(input.password, email);
    const admin = await this.admins.create({
      email,
      role: input.role,
      passwordHash: await this.hasher.hash(input.password),
    });
    await this.audit.append({
      actorType: 'system',
      action: 'admin.created',
      targetType: 'admin',
      targetId: admin.id,
      details: { email, role: admin.role, via: input.via },
      createdAt: this.clock.now(),
    });
    return admin;
  }
}

export function normalizeEmail(raw: string): string {
  const email = raw.trim().toLowerCase();
  if (email.length > 320 || !EMAIL.test(email)) throw new InvalidEmailError(raw);
  return email;
}

export function checkPassword(password: string, email: string): void {
  if (password.length < MIN_PASSWORD_LENGTH)
    throw new WeakPasswordError(`use at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.length > MAX_PASSWORD_LENGTH)
    throw new WeakPasswordError(`use at most ${MAX_PASSWORD_LENGTH} characters`);
  if (password.trim().length === 0) throw new WeakPasswordError('it is only white space');
  if (password.toLowerCase().includes(email.split('@')[0]) && email.split('@')[0].length >= 4)
    throw new WeakPasswordError('it contains the email name');
}
