import { Controller, Get } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { INestApplication } from '@nestjs/common';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiErrorBody } from '@casam/protocol';
import { configureApp } from '../app.factory';
import { AppModule } from '../app.module';
import { FsBlobStore } from '../blobs/fs-blob-store';
import { Clock } from '../common/clock';
import { parseConfig } from '../config/coordinator-config';
import type { Database } from '../database/database';
import { openTestDatabase } from '../../testing/test-database';
import { AccessTokenService } from './access-token.service';
import { Allow, CurrentPrincipal, Public } from './auth.decorators';
import type { Principal } from './principal';

@Controller('probe')
class ProbeController {
  @Public()
  @Get('public')
  open(): { ok: true } {
    return { ok: true };
  }
  @Get('default')
  locked(@CurrentPrincipal() p: Principal): Principal {
    return p;
  }
  @Allow('viewer')
  @Get('viewer')
  viewer(@CurrentPrincipal() p: Principal): Principal {
    return p;
  }
  @Allow('site')
  @Get('site')
  site(@CurrentPrincipal() p: Principal): Principal {
    return p;
  }
  @Allow('admin', 'site')
  @Get('admin-or-site')
  adminOrSite(@CurrentPrincipal() p: Principal): Principal {
    return p;
  }
}

class MovableClock extends Clock {
  offsetMs = 0;
  override now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
}

describe('AuthGuard (real app, real tokens, real database)', () => {
  let app: INestApplication;
  let db: Database;
  let base: string;
  let dir: string;
  const clock = new MovableClock();
  let tokens: AccessTokenService;
  let admin: { id: string; token: string };
  let viewer: { id: string; token: string };
  let site: { id: string; keyId: string; token: string };

  beforeAll(async () => {
    db = await openTestDatabase('pglite');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casam-guard-'));
    const config = parseConfig({ COORDINATOR_DATA_DIR: dir, COORDINATOR_PORT: '0' }, dir);
    const blobStore = await FsBlobStore.open(path.join(dir, 'blobs'));
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forRoot({ config, database: db, blobStore, secret: new Uint8Array(32).fill(3) })],
      controllers: [ProbeController],
    })
      .overrideProvider(Clock)
      .useValue(clock)
      .compile();
    app = moduleRef.createNestApplication({ logger: false });
    configureApp(app);
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
    tokens = app.get(AccessTokenService);
    const a = await db.prisma.admin.create({
      data: { email: 'a@example.org', role: 'admin', passwordHash: '!' },
    });
    const v = await db.prisma.admin.create({
      data: { email: 'v@example.org', role: 'viewer', passwordHash: '!' },
    });
    const s = await db.prisma.site.create({ data: { name: 'st-olav', status: 'approved' } });
    const k = await db.prisma.siteKey.create({
      data: { siteId: s.id, fingerprint: 'fp-1', publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'AA' } },
    });
    admin = { id: a.id, token: (await tokens.issueAdmin(a.id, 'admin')).token };
    viewer = { id: v.id, token: (await tokens.issueAdmin(v.id, 'viewer')).token };
    site = { id: s.id, keyId: k.id, token: (await tokens.issueSite(s.id, k.id)).token };
  });
  afterAll(async () => {
    await app?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const get = async (route: string, token?: string) => {
    const res = await fetch(`${base}/probe/${route}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    return { status: res.status, body: (await res.json()) as ApiErrorBody & Principal };
  };

  it('lets anyone through a public route', async () => {
    expect((await get('public')).status).toBe(200);
  });

  it('locks an undecorated route to admins', async () => {
    expect((await get('default')).body.error.code).toBe('missing_token');
    expect((await get('default', viewer.token)).status).toBe(403);
    expect((await get('default', site.token)).status).toBe(403);
    const ok = await get('default', admin.token);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ kind: 'admin', adminId: admin.id, role: 'admin' });
  });

  it('admits both roles on viewer routes and only sites on site routes', async () => {
    expect((await get('viewer', viewer.token)).status).toBe(200);
    expect((await get('viewer', admin.token)).status).toBe(200);
    expect((await get('viewer', site.token)).status).toBe(403);
    expect((await get('site', admin.token)).status).toBe(403);
    const ok = await get('site', site.token);
    expect(ok.body).toMatchObject({ kind: 'site', siteId: site.id, keyId: site.keyId, siteName: 'st-olav' });
  });

  it('admits any of several audiences', async () => {
    expect((await get('admin-or-site', admin.token)).status).toBe(200);
    expect((await get('admin-or-site', site.token)).status).toBe(200);
    const v = await get('admin-or-site', viewer.token);
    expect(v.status).toBe(403);
    expect(v.body.error.message).toBe('this route needs the admin role; you are viewer');
    expect((await get('admin-or-site')).body.error.code).toBe('missing_token');
  });

  it('refuses tampered, foreign and malformed tokens', async () => {
    const [h, p, sig] = admin.token.split('.');
    const flipped = `${h}.${p}.${sig.startsWith('A') ? 'B' : 'A'}${sig.slice(1)}`;
    expect((await get('default', flipped)).body.error.code).toBe('invalid_token');
    const other = new AccessTokenService(new Uint8Array(32).fill(9), clock);
    expect((await get('default', (await other.issueAdmin(admin.id, 'admin')).token)).body.error.code).toBe(
      'invalid_token',
    );
    expect((await get('default', 'not-a-jwt')).body.error.code).toBe('invalid_token');
  });

  it('refuses an expired token, allowing 30 s of clock skew', async () => {
    const t = (await tokens.issueAdmin(admin.id, 'admin', 60)).token;
    clock.offsetMs = 80_000; // 20 s past expiry: inside the tolerance
    try {
      expect((await get('default', t)).status).toBe(200);
      clock.offsetMs = 95_000;
      const r = await get('default', t);
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('token_expired');
    } finally {
      clock.offsetMs = 0;
    }
  });

  it('takes revocation, rotation, demotion and disabling into account on the very next request', async () => {
    const v2 = await db.prisma.admin.create({
      data: { email: 'x@example.org', role: 'admin', passwordHash: '!' },
    });
    const t = (await tokens.issueAdmin(v2.id, 'admin')).token;
    expect((await get('default', t)).status).toBe(200);
    await db.prisma.admin.update({ where: { id: v2.id }, data: { role: 'viewer' } });
    expect((await get('default', t)).status).toBe(403);
    await db.prisma.admin.update({ where: { id: v2.id }, data: { disabledAt: new Date() } });
    expect((await get('viewer', t)).body.error.code).toBe('credentials_revoked');

    await db.prisma.siteKey.update({
      where: { id: site.keyId },
      data: { status: 'rotated', notAfter: new Date(Date.now() + 60_000) },
    });
    expect((await get('site', site.token)).status).toBe(200); // rotated keys keep working until notAfter
    await db.prisma.siteKey.update({
      where: { id: site.keyId },
      data: { notAfter: new Date(Date.now() - 1) },
    });
    expect((await get('site', site.token)).body.error.code).toBe('credentials_revoked');
    await db.prisma.siteKey.update({ where: { id: site.keyId }, data: { status: 'active', notAfter: null } });
    expect((await get('site', site.token)).status).toBe(200);
    await db.prisma.site.update({ where: { id: site.id }, data: { status: 'revoked' } });
    const r = await get('site', site.token);
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('credentials_revoked');
  });
});
