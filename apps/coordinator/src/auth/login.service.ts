import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { Admin } from '@prisma/client';
import type { LoginResponse } from '@casam/protocol';
import { AdminRepository } from '../admins/admin.repository';
import { PasswordHasher } from '../admins/password-hasher';
import { AuditService } from '../audit/audit.service';
import { Clock } from '../common/clock';
import { storableText } from '../common/storable-text';
import { DomainError, UnauthenticatedError } from '../common/domain-error';
import { AccessTokenService } from './access-token.service';
import type { RequestMeta } from './request-meta';

export class InvalidCredentialsError extends UnauthenticatedError {
  constructor() {
    super('invalid_credentials', 'wrong email or password');
  }
}

export class AccountDisabledError extends UnauthenticatedError {
  constructor() {
    super('account_disabled', 'this admin account is disabled; ask another admin');
  }
}

/**
 * Admin login: email + password → a 15-minute access token. An unknown email costs the same scrypt work as a
 * wrong password (a dummy hash is checked) and gets the same answer, so neither the reply nor its timing tells
 * which accounts exist. Only a caller who knows the password learns that the account is disabled.
 */
@Injectable()
export class LoginService {
  private dummyHash?: Promise<string>;

  constructor(
    private readonly admins: AdminRepository,
    private readonly hasher: PasswordHasher,
    private readonly tokens: AccessTokenService,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  async login(email: string, password: string, meta: RequestMeta): Promise<LoginResponse> {
    const normalized = email.trim().toLowerCase();
    const admin = await this.admins.findByEmail(normalized);
    let ok = false;
    if (admin) ok = await this.hasher.verify(password, admin.passwordHash);
    else await this.hasher.verify(password, await this.dummy());
    try {
      if (!admin || !ok) throw new InvalidCredentialsError();
      if (admin.disabledAt) throw new AccountDisabledError();
    } catch (e) {
      await this.audit.record({
        actorType: admin ? 'admin' : 'anonymous',
        actorId: admin?.id ?? null,
        action: 'admin.login_failed',
        outcome: 'denied',
        targetType: 'admin',
        targetId: admin?.id ?? null,
        address: meta.address,
        correlationId: meta.correlationId,
        details: {
          email: normalized.slice(0, 320),
          reason: !admin ? 'unknown_email' : !ok ? 'wrong_password' : 'disabled',
          error: (e as DomainError).code,
        },
        createdAt: this.clock.now(),
      });
      throw e;
    }
    return this.succeed(admin, password, meta);
  }

  /**
   * Audits a login whose body was refused before it reached {@link login} (see LoginRefusalAuditFilter). The
   * email is recorded as far as it can be stored (a NUL or unpaired surrogate becomes U+FFFD).
   */
  async recordRefusedRequest(email: string | null, error: string, meta: RequestMeta): Promise<void> {
    await this.audit.record({
      actorType: 'anonymous',
      action: 'admin.login_failed',
      outcome: 'denied',
      targetType: 'admin',
      address: meta.address,
      correlationId: meta.correlationId,
      details: {
        ...(email !== null ? { email: storableText(email.trim().toLowerCase().slice(0, 320)) } : {}),
        reason: 'invalid_request',
        error,
      },
      createdAt: this.clock.now(),
    });
  }

  private async succeed(admin: Admin, password: string, meta: RequestMeta): Promise<LoginResponse> {
    const now = this.clock.now();
    await this.admins.recordLogin(admin.id, now);
    // Parameters raised since this hash was made: upgrade it now that the password is at hand.
    if (this.hasher.needsRehash(admin.passwordHash))
      await this.admins.setPasswordHash(admin.id, await this.hasher.hash(password));
    const issued = await this.tokens.issueAdmin(admin.id, admin.role);
    await this.audit.record({
      actorType: 'admin',
      actorId: admin.id,
      action: 'admin.login_succeeded',
      targetType: 'admin',
      targetId: admin.id,
      address: meta.address,
      correlationId: meta.correlationId,
      details: { tokenId: issued.tokenId, expiresAt: issued.expiresAt.toISOString() },
      createdAt: now,
    });
    return {
      accessToken: issued.token,
      tokenType: 'Bearer',
      expiresAt: issued.expiresAt.toISOString(),
      admin: { id: admin.id, email: admin.email, role: admin.role },
    };
  }

  /** A hash of a random password, made once with the current parameters: what unknown emails are checked against. */
  private dummy(): Promise<string> {
    this.dummyHash ??= this.hasher.hash(randomBytes(16).toString('hex'));
    return this.dummyHash;
  }
}
