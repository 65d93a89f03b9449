import { Injectable } from '@nestjs/common';
import type { Admin, AdminRole } from '@prisma/client';
import { Database } from '../database/database';
import { isUniqueViolation } from '../database/prisma-errors';
import { AdminEmailTakenError } from './admin.errors';

export interface NewAdmin {
  /** Already normalised (lower-case) by the caller. */
  email: string;
  passwordHash: string;
  role: AdminRole;
}

/** Admin accounts. Knows storage, not rules: normalisation and policy live in AdminsService. */
@Injectable()
export class AdminRepository {
  constructor(private readonly db: Database) {}

  async create(admin: NewAdmin): Promise<Admin> {
    try {
      return await this.db.prisma.admin.create({ data: admin });
    } catch (e) {
      if (isUniqueViolation(e)) throw new AdminEmailTakenError(admin.email);
      throw e;
    }
  }

  findById(id: string): Promise<Admin | null> {
    return this.db.prisma.admin.findUnique({ where: { id } });
  }

  findByEmail(email: string): Promise<Admin | null> {
    return this.db.prisma.admin.findUnique({ where: { email } });
  }

  list(filter: { role?: AdminRole } = {}): Promise<Admin[]> {
    return this.db.prisma.admin.findMany({ where: filter, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  }

  count(filter: { role?: AdminRole } = {}): Promise<number> {
    return this.db.prisma.admin.count({ where: filter });
  }

  /** Returns false when no such admin exists. */
  async recordLogin(id: string, at: Date): Promise<boolean> {
    return (await this.db.prisma.admin.updateMany({ where: { id }, data: { lastLoginAt: at } })).count === 1;
  }

  async setPasswordHash(id: string, passwordHash: string): Promise<boolean> {
    return (await this.db.prisma.admin.updateMany({ where: { id }, data: { passwordHash } })).count === 1;
  }

  /** Disables an enabled account (compare-and-set); false when it does not exist or is already disabled. */
  async disableIfEnabled(id: string, at: Date): Promise<boolean> {
    return (
      (await this.db.prisma.admin.updateMany({ where: { id, disabledAt: null }, data: { disabledAt: at } }))
        .count === 1
    );
  }

  /** `at` disables the account from then on; null enables it again. */
  async setDisabled(id: string, at: Date | null): Promise<boolean> {
    return (await this.db.prisma.admin.updateMany({ where: { id }, data: { disabledAt: at } })).count === 1;
  }
}
