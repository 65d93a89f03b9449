import { type INestApplication, Logger, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule, type AppDependencies } from './app.module';
import { protocolVersionMiddleware } from './common/protocol-version.middleware';
import { correlationIdMiddleware } from './common/request-context';
import { httpMetricsMiddleware } from './metrics/http-metrics.middleware';
import { MetricsService } from './metrics/metrics.service';
import { serveOpenApi } from './openapi/openapi';

/**
 * Builds the HTTP app on opened dependencies: the same function for `main.ts` and for tests, so tests run the
 * real middleware, pipe and filter.
 */
export async function createCoordinatorApp(
  deps: AppDependencies,
  logger?: LoggerService | false,
  /** Signals Nest closes the app on; the default is all of them (`main.ts` handles SIGTERM/SIGINT itself). */
  shutdownSignals?: string[],
): Promise<INestApplication> {
  const app = await NestFactory.create(AppModule.forRoot(deps), {
    logger: logger ?? false,
    abortOnError: false,
  });
  configureApp(app);
  app.enableShutdownHooks(shutdownSignals);
  return app;
}

/** HTTP-level setup shared by every way the app is built (the module carries the filter and the pipe). */
export function configureApp(app: INestApplication): void {
  // First of all, so every later step (Nest's 404s and body-parser errors included) has a correlation id.
  app.use(correlationIdMiddleware);
  app.use(httpMetricsMiddleware(app.get(MetricsService), new Logger('Http')));
  app.use(protocolVersionMiddleware());
  (app.getHttpAdapter().getInstance() as { disable(setting: string): void }).disable('x-powered-by');
  serveOpenApi(app);
}
