import { type DynamicModule, Global, Module } from '@nestjs/common';
import type { CoordinatorConfig } from './coordinator-config';

/** Injection token of the validated {@link CoordinatorConfig}. */
export const COORDINATOR_CONFIG = Symbol('COORDINATOR_CONFIG');

/** Makes the configuration (loaded and validated once, before the app is built) injectable everywhere. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: CoordinatorConfig): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: COORDINATOR_CONFIG, useValue: Object.freeze(config) }],
      exports: [COORDINATOR_CONFIG],
    };
  }
}
