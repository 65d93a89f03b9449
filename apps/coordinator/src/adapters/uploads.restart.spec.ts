import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createCoordinatorApp } from '../app.factory';
import { AccessTokenService } from '../auth/access-token.service';
import { FsBlobStore } from '../blobs/fs-blob-store';
import { parseConfig } from '../config/coordinator-config';
import { Database } from '../database/database';
import { EmbeddedDatabase } from '../database/embedded-database';
import { migrateDeploy } from '../database/migrator';
import { PostgresDatabase } from '../database/postgres-database';
import { createEmptyPostgresDatabase, testPostgresUrl } from '../../testing/test-database';
import {
  apiFor,
  createTestSite,
  makeAdapterFile,
  putChunk,
  proposeTask,
  sha256Hex,
  signUpload,
} from '../../testing/upload.testing';

const CHUNK = 64 * 1024;

interface Backend {
  label: string;
  skip: boolean;
  /** Opens the same database every time (the first call creates it). */
  open(first: boolean): Promise<Database>;
  drop(): Promise<void>;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casam-restart-'));

function embeddedOnDisk(): Backend {
  const dataDir = path.join(dir, 'pglite', 'db');
  return {
    label: 'embedded PGlite on disk',
    skip: false,
    open: (first) =>
      EmbeddedDatabase.open(
        first
          ? { dataDir, loadDataDir: new Blob([fs.readFileSync(inject('coordinatorPgliteTemplate'))]) }
          : { dataDir },
      ),
    drop: async () => undefined,
  };
}

function postgres(): Backend {
  let made: { url: string; drop(): Promise<void> } | undefined;
  return {
    label: 'Postgres',
    skip: !testPostgresUrl(),
    async open(first) {
      if (first) made = await createEmptyPostgresDatabase();
      const db = await PostgresDatabase.open({ url: made!.url, poolMax: 4 });
      if (first) await migrateDeploy(db.sql);
      return db;
    },
    drop: async () => made?.drop(),
  };
}

for (const backend of [embeddedOnDisk(), postgres()]) {
  describe.skipIf(backend.skip)(
    `a coordinator restart mid-upload loses no finished chunk [${backend.label}]`,
    () => {
      const secret = new Uint8Array(randomBytes(32));
      const blobDir = path.join(dir, backend.label.replace(/\W+/g, '-'), 'blobs');
      let app: INestApplication | undefined;
      let url = '';

      /** One coordinator process: the database and blob directory it opens are the same every time. */
      const boot = async (first: boolean) => {
        const database = await backend.open(first);
        const config = parseConfig({ COORDINATOR_DATA_DIR: dir, COORDINATOR_PORT: '0' }, dir);
        app = await createCoordinatorApp({
          config,
          database,
          blobStore: await FsBlobStore.open(blobDir),
          secret,
        });
        await app.listen(0, '127.0.0.1');
        url = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
      };

      beforeAll(async () => {
        await boot(true);
      });
      afterAll(async () => {
        await app?.close();
        await backend.drop();
      });

      it('resumes from the chunks recorded before the restart and completes', async () => {
        const api = apiFor(() => url);
        const database = app!.get(Database);
        const site = await createTestSite({ app: app!, db: database });
        const admin = await database.prisma.admin.create({
          data: { email: 'ops@example.org', role: 'admin', passwordHash: '!' },
        });
        const adminToken = (await app!.get(AccessTokenService).issueAdmin(admin.id, 'admin')).token;
        const task = await proposeTask(api, site.token, {
          name: 'liver',
          modality: 'CT',
          targetStructures: ['liver'],
        });
        expect(
          (await api('POST', `/api/v1/tasks/${task.body.id}/approve`, {}, { token: adminToken })).status,
        ).toBe(200);
        const file = makeAdapterFile({ taskId: task.body.id, seed: 11 });
        const s = await api(
          'POST',
          '/api/v1/uploads',
          { taskId: task.body.id, totalSize: file.length, sha256: sha256Hex(file), chunkSize: CHUNK },
          { token: site.token },
        );
        const { uploadId, chunkCount } = s.body as { uploadId: string; chunkCount: number };
        const half = Math.floor(chunkCount / 2);
        for (let i = 0; i < half; i++)
          expect((await putChunk(api, site.token, uploadId, file, CHUNK, i)).status).toBe(201);

        // Restart: the process goes away (database closed), a new one opens the same database and blob directory.
        await app!.close();
        app = undefined;
        await boot(false);

        const resumed = await api('GET', `/api/v1/uploads/${uploadId}`, undefined, { token: site.token });
        expect(resumed.body.receivedChunks).toEqual([...Array(half).keys()]);
        const repeat = await putChunk(api, site.token, uploadId, file, CHUNK, 0);
        expect([repeat.status, repeat.body.created]).toEqual([200, false]);
        for (let i = half; i < chunkCount; i++)
          expect((await putChunk(api, site.token, uploadId, file, CHUNK, i)).status).toBe(201);
        const signature = await signUpload(site, {
          uploadId,
          taskId: task.body.id,
          sha256: sha256Hex(file),
          size: file.length,
        });
        const done = await api(
          'POST',
          `/api/v1/uploads/${uploadId}/complete`,
          { signature },
          { token: site.token },
        );
        expect(done.status, JSON.stringify(done.body)).toBe(200);
        expect(done.body.adapter).toMatchObject({ version: 1, sha256: sha256Hex(file), status: 'pending' });
        const dl = await fetch(`${url}/api/v1/adapters/${done.body.adapter.id}/file`, {
          headers: { authorization: `Bearer ${adminToken}` },
        });
        expect(Buffer.from(await dl.arrayBuffer()).equals(file)).toBe(true);
      });
    },
  );
}

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});
