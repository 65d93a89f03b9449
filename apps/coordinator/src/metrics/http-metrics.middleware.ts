import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@nestjs/common';
import type { RequestWithPrincipal } from '../auth/auth.decorators';
import type { RequestWithContext } from '../common/request-context';
import type { MetricsService } from './metrics.service';

type ExpressRequest = IncomingMessage &
  RequestWithContext &
  RequestWithPrincipal & { route?: { path?: string }; baseUrl?: string; originalUrl?: string; ip?: string };

/**
 * Records every request in the HTTP metrics (labelled by route pattern, never by raw path, so ids do not
 * explode the label space) and writes one structured access-log line per request.
 */
export function httpMetricsMiddleware(metrics: MetricsService, logger?: Logger) {
  return (req: ExpressRequest, res: ServerResponse, next: () => void): void => {
    const start = process.hrtime.bigint();
    res.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const route = req.route?.path ? `${req.baseUrl ?? ''}${req.route.path}` : 'unmatched';
      const labels = { method: req.method ?? 'GET', route, status: String(res.statusCode) };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, seconds);
      if (logger && route !== '/metrics' && !route.endsWith('z')) {
        const p = req.principal;
        // No context argument: `logger` is a `new Logger('Http')`, which appends its own context, and a
        // second one made Nest print 'Http' as an extra message line after every entry.
        logger.log({
          msg: 'request',
          method: labels.method,
          path: (req.originalUrl ?? req.url ?? '').split('?')[0].slice(0, 300),
          route,
          status: res.statusCode,
          ms: Math.round(seconds * 1e4) / 10,
          correlationId: req.correlationId,
          actor: p ? (p.kind === 'admin' ? `admin:${p.adminId}` : `site:${p.siteId}`) : undefined,
          address: req.ip ?? req.socket.remoteAddress,
        });
      }
    });
    next();
  };
}
