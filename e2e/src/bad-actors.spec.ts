import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AdapterVersionSummary,
  type ApiErrorBody,
  type AuditEventListResponse,
  type AuditEventView,
  checkProtocolCompatibility,
  parseProtocolVersion,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  SITE_TOKEN_AUDIENCE,
  type SiteSummary,
} from '@casam/protocol';
import { type CoordinatorProcess, startCoordinatorProcess } from './support/coordinator-process';
import {
  enrollHttpSite,
  type HttpSite,
  testAdapterFile,
  type UploadAttempt,
} from '@casam/coordinator/testing';
import { RecordingProxy } from './support/recording-proxy';
import { siteAgent } from './support/site-agent-cli';
import { agentRunner, enrollApprovedSite, writeTinyBaseModel } from './support/site-setup';

const METRICS = { iou: 0.8, dice: 0.85 };

/** A safetensors file taken apart: its header (tensors and `__metadata__`) and its data section. */
function parseSafetensors(bytes: Uint8Array): { header: Record<string, unknown>; data: Buffer } {
  const buf = Buffer.from(bytes);
  const n = Number(buf.readBigUInt64LE(0));
  return {
    header: JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>,
    data: buf.subarray(8 + n),
  };
}

/** Put back together the way safetensors writers do: compact JSON padded with spaces to a multiple of 8. */
function writeSafetensors(header: Record<string, unknown>, data: Buffer): Uint8Array {
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return new Uint8Array(Buffer.concat([len, Buffer.from(json, 'utf8'), data]));
}

interface TensorEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

const tensors = (header: Record<string, unknown>) =>
  Object.entries(header).filter(([k]) => k !== '__metadata__') as [string, TensorEntry][];

/**
 * Bad actors against a real coordinator process (on Postgres when the e2e cluster runs): every attempt is
 * refused with an error that says what is wrong, stores nothing, and leaves an audit event an admin can read.
 */
describe('bad actors: refused with a clear error, nothing stored, audited', () => {
  let coord: CoordinatorProcess;
  let owner: HttpSite;
  let stranger: HttpSite;
  let taskId = '';
  const dir = mkdtempSync(join(tmpdir(), 'casam-e2e-bad-'));
  const weights = join(dir, 'tiny.safetensors');

  const audit = async (q: Record<string, string>): Promise<AuditEventView[]> =>
    (
      await coord.admin<AuditEventListResponse>(
        'GET',
        `/api/v1/audit-events?${new URLSearchParams({ limit: '1000', ...q }).toString()}`,
      )
    ).events;
  const adapters = () => coord.admin<AdapterVersionSummary[]>('GET', `/api/v1/tasks/${taskId}/adapters`);
  const siteToken = async (assertion: string) => {
    const r = await fetch(`${coord.url}/api/v1/auth/site-token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [PROTOCOL_HEADER]: PROTOCOL_VERSION },
      body: JSON.stringify({ assertion }),
    });
    return { status: r.status, body: (await r.json()) as ApiErrorBody & { accessToken?: string } };
  };

  beforeAll(async () => {
    writeTinyBaseModel(weights, 11);
    // Every actor here shares one address: lift the auth rate limit so the refusals are the ones under test.
    coord = await startCoordinatorProcess({
      postgres: true,
      env: { COORDINATOR_AUTH_RATE_PER_MINUTE: '6000', COORDINATOR_AUTH_RATE_BURST: '1000' },
    });
    owner = await enrollHttpSite(coord, 'Haraldsplass');
    stranger = await enrollHttpSite(coord, 'Diakonhjemmet');
    for (const s of [owner, stranger])
      await coord.admin('POST', `/api/v1/sites/${s.siteId}/approve`, { keyFingerprint: s.fingerprint });
    taskId = (await owner.proposeTask('liver-bad-actors')).id;
    await coord.admin('POST', `/api/v1/tasks/${taskId}/approve`);
  });
  afterAll(async () => {
    await coord?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a key that was never enrolled cannot get a token, even naming an approved site', async () => {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const kid = await calculateJwkThumbprint(await exportJWK(publicKey));
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA', kid })
      .setIssuer(owner.siteId)
      .setSubject(owner.siteId)
      .setAudience(SITE_TOKEN_AUDIENCE)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(privateKey);
    const r = await siteToken(assertion);
    expect(r.status).toBe(401);
    expect(r.body.error).toMatchObject({
      code: 'unknown_key',
      message: `no site key has the fingerprint ${kid}`,
    });
    const [e] = await audit({ action: 'site.token_denied', targetId: kid });
    expect(e).toMatchObject({ actorType: 'anonymous', outcome: 'denied', details: { error: 'unknown_key' } });
    // Nothing stored: the site still has its one key; no site was added.
    const site = await coord.admin<SiteSummary>('GET', `/api/v1/sites/${owner.siteId}`);
    expect(site.keys.map((k) => k.fingerprint)).toEqual([owner.fingerprint]);
    expect(await coord.admin<SiteSummary[]>('GET', '/api/v1/sites')).toHaveLength(2);
  });

  it('an expired assertion and a replayed one are refused by name', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await siteToken(await owner.assertion({ iat: now - 900, exp: now - 600 }));
    expect(expired.status).toBe(401);
    expect(expired.body.error.code).toBe('assertion_expired');
    expect(expired.body.error.message).toMatch(/site assertion: it has expired/);

    const issued = async () => (await audit({ action: 'site.token_issued', siteId: owner.siteId })).length;
    const issuedBefore = await issued();
    const once = await owner.assertion();
    const first = await siteToken(once);
    expect(first.status).toBe(200);
    expect(first.body.accessToken).toBeTruthy();
    const again = await siteToken(once);
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe('assertion_replayed');

    const denied = await audit({ action: 'site.token_denied', siteId: owner.siteId });
    expect(denied.map((e) => e.details['error']).sort()).toEqual(['assertion_expired', 'assertion_replayed']);
    expect(denied.every((e) => e.actorType === 'site' && e.outcome === 'denied')).toBe(true);
    // The replayed assertion got no second token: one issuance for it.
    expect(await issued()).toBe(issuedBefore + 1);
  });

  it('a revoked site is refused at the agent with the reason, and audited', async () => {
    const home = join(dir, 'revoked');
    const agent = agentRunner(home);
    const { siteId } = await enrollApprovedSite(coord, home, agent, { siteName: 'Lovisenberg', weights });
    await coord.admin('POST', `/api/v1/sites/${siteId}/revoke`, { reason: 'laptop stolen' });
    const r = await siteAgent(home, ['pull'], { CASAM_BACKEND: 'wasm' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/site Lovisenberg is revoked/);
    const [e] = await audit({ action: 'site.token_denied', siteId });
    expect(e).toMatchObject({
      actorType: 'site',
      outcome: 'denied',
      details: { error: 'credentials_revoked' },
    });
  });

  it("an upload for another site's task is refused before any byte is stored", async () => {
    const r = await stranger.uploadBytes(taskId, testAdapterFile(taskId, 64, 'casam-tiny', METRICS));
    expect(r).toMatchObject({ step: 'create', status: 403 });
    expect((r.body as ApiErrorBody).error.code).toBe('not_a_contributor');
    const [e] = await audit({ action: 'adapter.upload_started', siteId: stranger.siteId });
    expect(e).toMatchObject({ outcome: 'denied', details: { taskId, error: 'not_a_contributor' } });
    expect(await adapters()).toEqual([]);
  });

  it("crafted adapter files (extra tensor, wrong shape, NaN, another task's, oversized header) are refused with the problem named", async () => {
    const strangersTaskId = (await stranger.proposeTask('stranger-task')).id;
    const good = testAdapterFile(taskId, 64, 'casam-tiny', METRICS);
    const craft = (edit: (h: Record<string, unknown>, data: Buffer) => Buffer | void) => {
      const { header, data } = parseSafetensors(good);
      return writeSafetensors(header, edit(header, data) ?? data);
    };
    const [firstName, first] = tensors(parseSafetensors(good).header).find(([, t]) => t.shape.length >= 2)!;
    const cases: { name: string; bytes: Uint8Array; problem: RegExp }[] = [
      {
        name: 'extra tensor',
        bytes: craft((h, data) => {
          h['align.exfiltrated'] = {
            dtype: 'F32',
            shape: [4],
            data_offsets: [data.length, data.length + 16],
          };
          return Buffer.concat([data, Buffer.alloc(16)]);
        }),
        problem: /align\.exfiltrated/,
      },
      {
        name: 'wrong shape',
        bytes: craft((h) => {
          (h[firstName] as TensorEntry).shape = [first.shape.reduce((a, b) => a * b, 1)];
        }),
        problem: new RegExp(`${firstName.replace(/\./g, '\\.')}.*shape`),
      },
      {
        name: 'NaN weight',
        bytes: craft((h, data) => {
          const out = Buffer.from(data);
          out.writeFloatLE(Number.NaN, (h[firstName] as TensorEntry).data_offsets[0]);
          return out;
        }),
        problem: /NaN|non-finite|not finite/i,
      },
      {
        // Weights trained for another site's task, passed off as this task's.
        name: "another task's adapter",
        bytes: testAdapterFile(strangersTaskId, 64, 'casam-tiny', METRICS),
        problem: new RegExp(`metadata taskId "${strangersTaskId}" is not this task's ${taskId}`),
      },
      {
        name: 'oversized header',
        bytes: craft((h) => {
          (h['__metadata__'] as Record<string, string>)['padding'] = 'x'.repeat(70 * 1024);
        }),
        problem: /header is \d+ bytes, over the limit of \d+/,
      },
    ];
    for (const c of cases) {
      const r: UploadAttempt = await owner.uploadBytes(taskId, c.bytes);
      expect(r, c.name).toMatchObject({ step: 'complete', status: 422 });
      const err = (r.body as ApiErrorBody).error;
      expect(err.code, c.name).toBe('adapter_invalid');
      const problems = (err.details?.['problems'] as string[]).join('\n');
      expect(problems, c.name).toMatch(c.problem);
    }
    const rejected = await audit({ action: 'adapter.upload_rejected', siteId: owner.siteId });
    expect(rejected).toHaveLength(cases.length);
    expect(rejected.every((e) => e.outcome === 'denied' && e.details['error'] === 'adapter_invalid')).toBe(
      true,
    );
    expect(await adapters()).toEqual([]);

    // The honest file still goes in, as version 1: nothing refused took a version or left a trace.
    const ok = await owner.uploadBytes(taskId, good);
    expect(ok).toMatchObject({ step: 'complete', status: 200 });
    expect((await adapters()).map((a) => a.version)).toEqual([1]);
  });

  it('a site agent one protocol minor behind is served with upgrade advice; a refused protocol gets 426 and what to do', async () => {
    const proxy = new RecordingProxy(coord.url);
    const proxyUrl = await proxy.start();
    try {
      const home = join(dir, 'elder');
      const agent = agentRunner(home);
      await enrollApprovedSite(coord, home, agent, {
        coordinatorUrl: proxyUrl,
        siteName: 'Betanien',
        weights,
      });
      // What an older agent says on the wire: the same messages with protocol 0.0.x.
      const speak = (version: string) => {
        proxy.hooks = {
          requestHeaders: (_r, h) => ({ ...h, [PROTOCOL_HEADER]: version }),
        };
      };
      const server = parseProtocolVersion(PROTOCOL_VERSION);
      const oneBehind = `${server.major}.${server.minor - 1}.7`;
      expect(checkProtocolCompatibility(oneBehind)).toEqual({ ok: true, outdated: true });
      speak(oneBehind);
      const served = await siteAgent(home, ['pull'], { CASAM_BACKEND: 'wasm' });
      expect(served.code, served.stderr).toBe(0);
      expect(served.stdout).toMatch(/no bundle has been published yet|installed bundle/);
      expect(served.stderr).toContain(
        `warning: the coordinator advises upgrading this site agent: protocol ${oneBehind} is one minor version behind ${PROTOCOL_VERSION}`,
      );
      expect(served.stderr.match(/advises upgrading/g)).toHaveLength(1); // once per run, not per request

      // Two minors behind is refused with 426 and what to upgrade to. At protocol 0.1 no version is two
      // minors behind, so until the protocol reaches 0.2 the refused case is a client a major version apart.
      const refusedVersion =
        server.minor >= 2 ? `${server.major}.${server.minor - 2}.0` : `${server.major + 1}.0.0`;
      const check = checkProtocolCompatibility(refusedVersion);
      expect(check.ok).toBe(false);
      speak(refusedVersion);
      const refused = await siteAgent(home, ['pull'], { CASAM_BACKEND: 'wasm' });
      expect(refused.code).toBe(3);
      expect(refused.stderr).toContain(!check.ok ? check.message : '');
      expect(refused.stderr).toMatch(/upgrade the (site agent|coordinator)/);
      const direct = await fetch(`${coord.url}/api/v1/bundles/latest`, {
        headers: { [PROTOCOL_HEADER]: refusedVersion },
      });
      expect(direct.status).toBe(426);
      expect(((await direct.json()) as ApiErrorBody).error).toMatchObject({
        code: server.minor >= 2 ? 'protocol_too_old' : 'protocol_too_new',
        details: { serverProtocol: PROTOCOL_VERSION, clientProtocol: refusedVersion },
      });
    } finally {
      await proxy.close();
    }
  });
});
