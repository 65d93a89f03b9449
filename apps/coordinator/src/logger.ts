import { ConsoleLogger, type LogLevel as NestLogLevel } from '@nestjs/common';
import type { CoordinatorConfig, LogLevel } from './config/coordinator-config';

const ORDER: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/** Structured (one JSON object per line) or human-readable logs, from the configured level up. */
export function createLogger(log: CoordinatorConfig['log']): ConsoleLogger {
  const logLevels: NestLogLevel[] = ORDER.slice(0, ORDER.indexOf(log.level) + 1);
  return new ConsoleLogger('Coordinator', {
    json: log.format === 'json',
    logLevels,
    colors: log.format === 'text' && process.stdout.isTTY,
  });
}
