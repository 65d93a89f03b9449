import {
  type CanActivate,
  type ExecutionContext,
  Injectable,
  SetMetadata,
  UseGuards,
  applyDecorators,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuditService } from '../../audit/audit.service';
import { Clock } from '../../common/clock';
import { storableText } from '../../common/storable-text';
import { requestMetaOf } from '../request-meta';
import { type AuthRateLimitBucket, AuthRateLimiter } from './auth-rate-limiter';
import { RateLimitedError } from './rate-limited.error';

const RATE_LIMIT_METADATA = 'casam:rate-limit';

interface RateLimitSpec {
  bucket: AuthRateLimitBucket;
  /** A body field that is also a key (login: `email`), so one account cannot be tried from many addresses. */
  alsoByBodyField?: string;
}

/**
 * Rate-limits a route per client address (see {@link AuthRateLimiter}); refusals answer 429 `rate_limited`
 * with `Retry-After` and are audited. Runs before the body is validated, so malformed attempts count too.
 */
export const RateLimit = (bucket: AuthRateLimitBucket, opts: { alsoByBodyField?: string } = {}) =>
  applyDecorators(
    SetMetadata(RATE_LIMIT_METADATA, { bucket, ...opts } satisfies RateLimitSpec),
    UseGuards(RateLimitGuard),
  );

@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly limiter: AuthRateLimiter,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const spec = this.reflector.get<RateLimitSpec | undefined>(RATE_LIMIT_METADATA, ctx.getHandler());
    if (!spec || ctx.getType() !== 'http') return true;
    const req = ctx.switchToHttp().getRequest<IncomingMessage & { body?: unknown }>();
    const meta = requestMetaOf(req);
    const keys = [`address:${meta.address ?? 'unknown'}`];
    const field = spec.alsoByBodyField ? bodyString(req.body, spec.alsoByBodyField) : undefined;
    // The body is validated only after this guard: a NUL or an unpaired surrogate, which Postgres cannot store,
    // is replaced here so the bucket key (and the audit below) can be written; the pipe then refuses the body.
    if (field !== undefined) keys.push(`${spec.alsoByBodyField}:${storableText(field.trim().toLowerCase())}`);
    const result = await this.limiter.take(spec.bucket, keys);
    if (result.allowed) return true;
    await this.audit.record({
      actorType: 'anonymous',
      action: 'auth.rate_limited',
      outcome: 'denied',
      address: meta.address,
      correlationId: meta.correlationId,
      details: {
        endpoint: spec.bucket,
        retryAfterSeconds: result.retryAfterSeconds,
        ...(field !== undefined
          ? { [spec.alsoByBodyField as string]: storableText(field.slice(0, 320)) }
          : {}),
      },
      createdAt: this.clock.now(),
    });
    ctx
      .switchToHttp()
      .getResponse<ServerResponse>()
      .setHeader('Retry-After', String(result.retryAfterSeconds));
    throw new RateLimitedError(result.retryAfterSeconds);
  }
}

function bodyString(body: unknown, field: string): string | undefined {
  const v = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[field] : undefined;
  return typeof v === 'string' ? v : undefined;
}
