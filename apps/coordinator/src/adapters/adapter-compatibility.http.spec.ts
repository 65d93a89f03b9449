import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SiteRepository } from '../sites/site.repository';
import { startTestApp, type TestApp } from '../../testing/test-app';
import { call, newSiteKey } from '../../testing/test-site';
import {
  type Api,
  apiFor,
  createTestSite,
  makeAdapterFile,
  putChunk,
  sha256Hex,
  proposeTask,
  signUpload,
  type TestSite,
} from '../../testing/upload.testing';

const CHUNK = 64 * 1024;
const LAYERS = ['transformer.layers.0.self_attn.q_proj', 'output_hypernetworks_mlps.0.layers.2'];

describe('approving a format 2 adapter warns about sites whose agent cannot read it (real app, PGlite)', () => {
  let t: TestApp;
  let api: Api;
  let admin: string;
  let viewer: string;
  let uploader: TestSite;
  let taskId: string;
  const siteIds = new Map<string, string>();

  /** Enrolls a site through the real API, reporting `agentVersion` (or none), and approves it. */
  const enroll = async (name: string, agentVersion?: string) => {
    const key = await newSiteKey();
    const token = await call<{ token: string }>(t.url, 'POST', '/api/v1/enrollment-tokens', {
      token: admin,
      body: { label: name },
    });
    const enrolled = await call<{ siteId: string }>(t.url, 'POST', '/api/v1/sites/enroll', {
      body: {
        enrollmentToken: token.body.token,
        siteName: name,
        publicJwk: key.publicJwk,
        ...(agentVersion ? { agentVersion } : {}),
      },
    });
    expect(enrolled.status, JSON.stringify(enrolled.body)).toBe(201);
    const approved = await call(t.url, 'POST', `/api/v1/sites/${enrolled.body.siteId}/approve`, {
      token: admin,
      body: { keyFingerprint: key.fingerprint },
    });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    siteIds.set(name, enrolled.body.siteId);
  };

  const upload = async (bytes: Buffer) => {
    const s = await api(
      'POST',
      '/api/v1/uploads',
      { taskId, totalSize: bytes.length, sha256: sha256Hex(bytes), chunkSize: CHUNK },
      { token: uploader.token },
    );
    expect(s.status, JSON.stringify(s.body)).toBe(201);
    for (let i = 0; i < Math.ceil(bytes.length / CHUNK); i++)
      expect((await putChunk(api, uploader.token, s.body.uploadId, bytes, CHUNK, i)).status).toBe(201);
    const done = await api(
      'POST',
      `/api/v1/uploads/${s.body.uploadId}/complete`,
      {
        signature: await signUpload(uploader, {
          uploadId: s.body.uploadId,
          taskId,
          sha256: sha256Hex(bytes),
          size: bytes.length,
        }),
      },
      { token: uploader.token },
    );
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    return done.body.adapter as { id: string; formatVersion: number };
  };

  beforeAll(async () => {
    t = await startTestApp('pglite');
    api = apiFor(() => t.url);
    admin = (await t.adminToken('admin')).token;
    viewer = (await t.adminToken('viewer')).token;
    uploader = await createTestSite(t, 'uploader');
    // The uploader reported the current agent; the others an old one, a new one, none at all.
    await t.app.get(SiteRepository).recordStatusReport(uploader.siteId, {
      at: new Date(),
      agentVersion: '0.2.0',
      bundleVersion: null,
    });
    await enroll('north', '0.1.0');
    await enroll('south', '0.2.1');
    await enroll('east');
    // A site that is not approved (here: revoked) does not count.
    await enroll('west', '0.1.0');
    await t.db.prisma.site.update({ where: { id: siteIds.get('west')! }, data: { status: 'revoked' } });
    const task = await proposeTask(api, uploader.token, {
      name: 'cardiac',
      modality: 'MR',
      targetStructures: ['left ventricle'],
    });
    taskId = task.body.id;
    expect((await api('POST', `/api/v1/tasks/${taskId}/approve`, {}, { token: admin })).status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('lists the approved sites too old (or silent) for format 2 in the version, the list and the answer; approval goes ahead and is audited with the warning', async () => {
    const v2 = await upload(
      makeAdapterFile({ taskId, seed: 1, decoderLora: { rank: 2, alpha: 4, layers: LAYERS } }),
    );
    expect(v2.formatVersion).toBe(2);
    expect(v2).not.toHaveProperty('compatibility'); // the uploading site is not told about other sites
    const expected = {
      formatVersion: 2,
      firstAgentVersion: '0.2.0',
      sitesUnableToRead: [
        { siteId: siteIds.get('north'), name: 'north', agentVersion: '0.1.0' },
        { siteId: siteIds.get('east'), name: 'east', agentVersion: null },
      ],
    };
    for (const token of [admin, viewer]) {
      const one = await api('GET', `/api/v1/adapters/${v2.id}`, undefined, { token });
      expect(one.body.compatibility).toEqual(expected);
      const list = await api('GET', `/api/v1/tasks/${taskId}/adapters`, undefined, { token });
      expect(list.body.find((v: { id: string }) => v.id === v2.id).compatibility).toEqual(expected);
    }
    const asSite = await api('GET', `/api/v1/adapters/${v2.id}`, undefined, { token: uploader.token });
    expect(asSite.status).toBe(200);
    expect(asSite.body).not.toHaveProperty('compatibility');

    const ok = await api('POST', `/api/v1/adapters/${v2.id}/approve`, {}, { token: admin });
    expect([ok.status, ok.body.status]).toEqual([200, 'approved']);
    expect(ok.body.compatibility).toEqual(expected);
    const audit = await t.db.prisma.auditEvent.findFirst({
      where: { action: 'adapter.approved', outcome: 'success', targetId: v2.id },
    });
    expect(audit?.details).toMatchObject({ compatibilityWarning: expected });
  });

  it('a format 1 adapter warns only about sites that never reported a version; once every site reads format 2 there is no warning', async () => {
    const v1 = await upload(makeAdapterFile({ taskId, seed: 2 }));
    const one = await api('GET', `/api/v1/adapters/${v1.id}`, undefined, { token: admin });
    expect(one.body.compatibility).toEqual({
      formatVersion: 1,
      firstAgentVersion: '0.1.0',
      sitesUnableToRead: [{ siteId: siteIds.get('east'), name: 'east', agentVersion: null }],
    });

    // north and east upgrade and say so in their next site.status report (what the fleet gateway stores).
    for (const name of ['north', 'east'])
      await t.app.get(SiteRepository).recordStatusReport(siteIds.get(name)!, {
        at: new Date(),
        agentVersion: '0.2.0',
        bundleVersion: 1,
      });
    const v2 = await upload(
      makeAdapterFile({ taskId, seed: 3, decoderLora: { rank: 2, alpha: 4, layers: LAYERS } }),
    );
    const got = await api('GET', `/api/v1/adapters/${v2.id}`, undefined, { token: admin });
    expect(got.body.compatibility).toEqual({
      formatVersion: 2,
      firstAgentVersion: '0.2.0',
      sitesUnableToRead: [],
    });
    const ok = await api('POST', `/api/v1/adapters/${v2.id}/approve`, {}, { token: admin });
    expect(ok.status).toBe(200);
    const audit = await t.db.prisma.auditEvent.findFirst({
      where: { action: 'adapter.approved', outcome: 'success', targetId: v2.id },
    });
    expect(audit?.details).not.toHaveProperty('compatibilityWarning');
  });
});
