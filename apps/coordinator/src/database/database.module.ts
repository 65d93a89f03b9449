import {
  type DynamicModule,
  Global,
  Injectable,
  Logger,
  Module,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { Database } from './database';

/** Closes the database when the app shuts down (SIGTERM included): PGlite flushes and releases its lock. */
@Injectable()
class DatabaseCloser implements OnApplicationShutdown {
  private readonly logger = new Logger('Database');

  constructor(private readonly db: Database) {}

  async onApplicationShutdown(): Promise<void> {
    await this.db.close();
    this.logger.log(`closed ${this.db.describe()}`);
  }
}

/** Provides the already opened and migrated {@link Database} to every module. */
@Global()
@Module({})
export class DatabaseModule {
  static forRoot(db: Database): DynamicModule {
    return {
      module: DatabaseModule,
      providers: [{ provide: Database, useValue: db }, DatabaseCloser],
      exports: [Database],
    };
  }
}
