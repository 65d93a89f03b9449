import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type ArgumentsHost, Catch, type ExceptionFilter, Injectable, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { RequestValidationError } from '../common/domain-error';
import { toErrorBody } from '../common/global-exception.filter';
import { LoginService } from './login.service';
import { requestMetaOf } from './request-meta';

/**
 * On `POST /auth/login` only: a body the validation pipe refuses (a NUL in the email, a missing password…) is
 * a failed login like a wrong password, so it is audited as one before the usual 400 goes out. The pipe runs
 * before the controller, so LoginService never sees these attempts otherwise. The rate-limit guard runs
 * before the pipe, so these entries are bounded like every other login attempt.
 */
@Catch(RequestValidationError)
@Injectable()
export class LoginRefusalAuditFilter implements ExceptionFilter<RequestValidationError> {
  private readonly logger = new Logger('Errors');

  constructor(
    private readonly login: LoginService,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  catch(exception: RequestValidationError, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const req = ctx.getRequest<IncomingMessage & { body?: unknown }>();
    const meta = requestMetaOf(req);
    const { status, body } = toErrorBody(exception, meta.correlationId ?? randomUUID());
    const raw = req.body;
    const email =
      typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>)['email'] : undefined;
    this.login
      .recordRefusedRequest(typeof email === 'string' ? email : null, exception.code, meta)
      .catch((e: unknown) =>
        this.logger.error(`refused login not audited: ${(e as Error).stack ?? String(e)}`),
      )
      .finally(() => this.adapterHost.httpAdapter.reply(ctx.getResponse(), body, status));
  }
}
