import { Injectable } from '@nestjs/common';
import type { Admin, AdminRole } from '@prisma/client';
import { AuditService } from '../audit/audit.service';
import { Clock } from '../common/clock';
import type { AdminSummary } from '@casam/protocol';
import type { AdminActor } from '../auth/actor';
import { DomainError } from '../common/domain-error';
import { AdminRepository } from './admin.repository';
import {
  AdminAlreadyDisabledError,
  AdminNotFoundError,
  CannotDisableSelfError,
  InvalidEmailError,
  WeakPasswordError,
} from './admin.errors';
import { PasswordHasher } from './password-hasher';

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;
const EMAIL = /^[^\s@]{1,64}@[^\s@]+\.[^\s@]+$/;

/** Admin accounts: creating, listing and disabling them. Login and tokens live in auth/ (LoginService). */
@Injectable()
export class AdminsService {
  constructor(
    private readonly admins: AdminRepository,
    private readonly hasher: PasswordHasher,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  /**
   * Creates an admin account. There is no default password anywhere: the first admin is created by the
   * operator through the CLI, with a password they type; later ones by an admin through the API (`by`).
   */
  async createAdmin(input: {
    email: string;
    role: AdminRole;
    password: string;
    via: string;
    by?: AdminActor;
  }): Promise<Admin> {
    const email = normalizeEmail(input.email);
    checkPassword(input.password, email);
    const admin = await this.admins.create({
      email,
      role: input.role,
      passwordHash: await this.hasher.hash(input.password),
    });
    await this.audit.record({
      actorType: input.by ? 'admin' : 'system',
      ...(input.by
        ? { actorId: input.by.id, address: input.by.meta.address, correlationId: input.by.meta.correlationId }
        : {}),
      action: 'admin.created',
      targetType: 'admin',
      targetId: admin.id,
      details: { email, role: admin.role, via: input.via },
      createdAt: this.clock.now(),
    });
    return admin;
  }

  list(): Promise<Admin[]> {
    return this.admins.list();
  }

  async get(id: string): Promise<Admin> {
    const admin = await this.admins.findById(id);
    if (!admin) throw new AdminNotFoundError(id);
    return admin;
  }

  /**
   * Disables an account: from its next request on, its tokens stop working (the guard checks live) and it
   * cannot log in. Nobody disables themselves, so at least the caller stays an enabled admin.
   */
  async disable(id: string, by: AdminActor): Promise<Admin> {
    const base = {
      actorType: 'admin' as const,
      actorId: by.id,
      action: 'admin.disabled',
      targetType: 'admin',
      targetId: id,
      address: by.meta.address,
      correlationId: by.meta.correlationId,
    };
    try {
      if (id === by.id) throw new CannotDisableSelfError();
      if (!(await this.admins.disableIfEnabled(id, this.clock.now()))) {
        if (!(await this.admins.findById(id))) throw new AdminNotFoundError(id);
        throw new AdminAlreadyDisabledError(id);
      }
    } catch (e) {
      if (e instanceof DomainError)
        await this.audit.record({
          ...base,
          outcome: 'denied',
          details: { error: e.code },
          createdAt: this.clock.now(),
        });
      throw e;
    }
    const admin = await this.get(id);
    await this.audit.record({ ...base, details: { email: admin.email }, createdAt: this.clock.now() });
    return admin;
  }
}

/** The API's view of an account: never the password hash. */
export function toAdminSummary(a: Admin): AdminSummary {
  return {
    id: a.id,
    email: a.email,
    role: a.role,
    disabledAt: a.disabledAt?.toISOString() ?? null,
    lastLoginAt: a.lastLoginAt?.toISOString() ?? null,
    createdAt: a.createdAt.toISOString(),
  };
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
