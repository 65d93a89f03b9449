import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { AdminRole } from '@prisma/client';
import { Test } from '@nestjs/testing';
import { configureApp, createCoordinatorApp } from '../src/app.factory';
import { AppModule } from '../src/app.module';
import { Clock } from '../src/common/clock';
import { AccessTokenService } from '../src/auth/access-token.service';
import type { BlobStore } from '../src/blobs/blob-store';
import { FsBlobStore } from '../src/blobs/fs-blob-store';
import { PostgresBlobStore } from '../src/blobs/postgres-blob-store';
import { parseConfig } from '../src/config/coordinator-config';
import type { Database } from '../src/database/database';
import { openTestDatabase, type TestBackend } from './test-database';

export interface TestApp {
  app: INestApplication;
  /** `http://127.0.0.1:<port>` */
  url: string;
  db: Database;
  blobStore: BlobStore;
  secret: Uint8Array;
  dataDir: string;
  /** Creates an admin account (password hash is a placeholder: it cannot log in) and returns a token for it. */
  adminToken(role?: AdminRole): Promise<{ adminId: string; token: string }>;
  close(): Promise<void>;
}

/**
 * The real coordinator app (middleware, guard, pipe, filter, every module) on a fresh migrated test database
 * and a blob store in a temp directory (or the database), listening on a free port.
 */
export async function startTestApp(
  backend: TestBackend = 'pglite',
  opts: { blobs?: 'fs' | 'postgres'; env?: NodeJS.ProcessEnv; clock?: Clock } = {},
): Promise<TestApp> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'casam-coord-test-'));
  const config = parseConfig({ COORDINATOR_DATA_DIR: dataDir, COORDINATOR_PORT: '0', ...opts.env }, dataDir);
  const db = await openTestDatabase(backend);
  const blobStore =
    opts.blobs === 'postgres'
      ? new PostgresBlobStore(db)
      : await FsBlobStore.open(path.join(dataDir, 'blobs'));
  const secret = new Uint8Array(randomBytes(32));
  let app: INestApplication;
  if (opts.clock) {
    // The same app with its Clock replaced (expiry, grace periods, rate-limit refills without sleeping).
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forRoot({ config, database: db, blobStore, secret })],
    })
      .overrideProvider(Clock)
      .useValue(opts.clock)
      .compile();
    app = moduleRef.createNestApplication({ logger: false });
    configureApp(app);
  } else app = await createCoordinatorApp({ config, database: db, blobStore, secret });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  let n = 0;
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    db,
    blobStore,
    secret,
    dataDir,
    async adminToken(role: AdminRole = 'admin') {
      const admin = await db.prisma.admin.create({
        data: {
          email: `test-${role}-${++n}-${randomBytes(3).toString('hex')}@example.org`,
          role,
          passwordHash: '!',
        },
      });
      const { token } = await app.get(AccessTokenService).issueAdmin(admin.id, role);
      return { adminId: admin.id, token };
    },
    async close() {
      await app.close();
      await db.close().catch(() => undefined);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
