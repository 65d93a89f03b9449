import { randomUUID } from 'node:crypto';
import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { ApiErrorBody } from '@casam/protocol';
import { DomainError } from './domain-error';
import { type RequestWithContext, currentRequestContext } from './request-context';

type ErrorBody = ApiErrorBody;

const CODE_BY_STATUS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
};

/**
 * Maps everything thrown while handling a request to `{ error: { code, message, correlationId } }`:
 * domain errors with their own code and status, Nest/HTTP errors (unknown route, malformed JSON) by status,
 * and anything else to 500 `internal_error`, logged with its stack; its message never reaches the client.
 */
@Catch()
export class GlobalExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const req = ctx.getRequest<RequestWithContext>();
    const correlationId = req.correlationId ?? currentRequestContext()?.correlationId ?? randomUUID();
    const { status, body } = toErrorBody(exception, correlationId);
    // `draining` is the answer a shutting-down replica means to give (its start is logged once)
    if (status >= 500 && body.error.code !== 'draining')
      this.logger.error(
        { msg: 'request failed', method: req.method, url: req.url, correlationId, code: body.error.code },
        exception instanceof Error ? exception.stack : String(exception),
      );
    this.adapterHost.httpAdapter.reply(ctx.getResponse(), body, status);
  }
}

export function toErrorBody(exception: unknown, correlationId: string): { status: number; body: ErrorBody } {
  if (exception instanceof DomainError) {
    const { code, message, status, details } = exception;
    return { status, body: { error: { code, message, correlationId, ...(details ? { details } : {}) } } };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    if (status < 500) {
      const response = exception.getResponse();
      const raw =
        typeof response === 'object' && response !== null
          ? (response as { message?: unknown }).message
          : response;
      const message = Array.isArray(raw) ? raw.join('; ') : typeof raw === 'string' ? raw : exception.message;
      return {
        status,
        body: { error: { code: CODE_BY_STATUS[status] ?? 'http_error', message, correlationId } },
      };
    }
  }
  return {
    status: 500,
    body: { error: { code: 'internal_error', message: 'internal server error', correlationId } },
  };
}
