import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompactSign } from 'jose';
import type { BundleDetail } from '@casam/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoordinatorClient } from '../coordinator/coordinator-client';
import { EgressGateway } from '../egress/egress';
import { EgressLog } from '../egress/egress-log';
import type { AgentState } from '../home/agent-home';
import { SiteIdentity } from '../identity/site-identity';
import {
  signedTestBundle,
  TEST_BASE_FINGERPRINT,
  TEST_TASK_ID,
  testAdapterFile,
  type TestSigner,
  testSigner,
  withAdapterMetadata,
} from '../testing/signed-bundle.testing';
import { BundleStore } from './bundle-store';
import { BundleRefusedError, pullBundle } from './pull-bundle';

const SITE = '0b7f4e2c-1d2a-4c3b-9e8f-7a6b5c4d3e2f';
const BASE = TEST_BASE_FINGERPRINT;

type Key = TestSigner;
const key = testSigner;
const bundle = (version: number, k: Key, base = BASE, adapter = testAdapterFile(base, 1 + version)) =>
  signedTestBundle(version, k, { base, adapter });

describe('pullBundle against an HTTP server serving signed bundles', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-pull-'));
  let server: http.Server;
  let client: CoordinatorClient;
  let store: BundleStore;
  let pinned: Key;
  let state: AgentState;
  /** What the server serves now. */
  let serving: { archive: Uint8Array; detail: BundleDetail; cutAfter?: number } | null = null;
  const ranges: (string | undefined)[] = [];
  let endorsements: { kid: string; jws: string }[] = [];
  const log = () => undefined;

  beforeAll(async () => {
    pinned = await key();
    state = { version: 1, siteId: SITE, coordinatorKeys: [{ kid: pinned.kid, x: pinned.x }] };
    server = http.createServer((req, res) => {
      const url = req.url ?? '';
      if (url === '/api/v1/auth/site-token') {
        req.resume();
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              accessToken: 'a.b.c',
              tokenType: 'Bearer',
              expiresAt: new Date(Date.now() + 600_000).toISOString(),
            }),
          );
        });
        return;
      }
      if (url === '/.well-known/casam-key-endorsements.json') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ endorsements }));
      }
      if (url === '/api/v1/bundles/latest') {
        if (!serving)
          return void res
            .writeHead(404, { 'content-type': 'application/json' })
            .end('{"error":{"code":"bundle_not_found","message":"none","correlationId":"x"}}');
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify(serving.detail));
      }
      const m = /^\/api\/v1\/bundles\/(\d+)\/archive$/.exec(url);
      if (m && serving) {
        ranges.push(req.headers.range);
        const from = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
        const body = serving.archive.subarray(from);
        res.writeHead(from ? 206 : 200, {
          'content-type': 'application/x-tar',
          'content-length': String(body.byteLength),
        });
        if (serving.cutAfter !== undefined) {
          res.write(body.subarray(0, serving.cutAfter));
          setTimeout(() => res.destroy(), 20); // the connection drops mid-download
          return;
        }
        return void res.end(body);
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const identity = await SiteIdentity.generate(join(dir, 'key.jwk'));
    const egress = new EgressGateway(
      `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      new EgressLog(join(dir, 'egress.log')),
    );
    client = new CoordinatorClient(egress, identity, SITE, { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 });
    store = new BundleStore(join(dir, 'bundles'));
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  const pull = () => pullBundle(client, store, state, BASE, log);
  const refusal = async () => {
    const e = await pull().catch((err: unknown) => err);
    expect(e).toBeInstanceOf(BundleRefusedError);
    return e as BundleRefusedError;
  };

  it('says so when nothing is published, installs a good bundle, then is up to date', async () => {
    expect((await pull()).kind).toBe('none-published');
    serving = await bundle(1, pinned);
    expect(await pull()).toMatchObject({ kind: 'installed', installed: { version: 1 } });
    expect((await pull()).kind).toBe('up-to-date');
  });

  it('refuses a bundle altered in transit and keeps the one in use', async () => {
    const good = await bundle(2, pinned);
    const tampered = Uint8Array.from(good.archive);
    tampered[tampered.length - 3000] ^= 0x01;
    serving = { archive: tampered, detail: good.detail };
    expect((await refusal()).code).toBe('content_hash_mismatch');
    expect(store.current()?.version).toBe(1);
    expect(existsSync(store.partFile(good.detail.contentHash))).toBe(false);
  });

  it('refuses a listing whose content hash or version is not what it must be, before touching any file', async () => {
    // A file outside the bundle store that a `../` in the listed hash would name (as `<hash>.part`).
    const victim = join(dir, 'victim.part');
    writeFileSync(victim, 'precious');
    const good = await bundle(2, pinned);
    const before = readdirSync(join(dir, 'bundles', 'downloads'));
    for (const detail of [
      { ...good.detail, contentHash: '../../victim' },
      { ...good.detail, contentHash: good.detail.contentHash.toUpperCase() },
      { ...good.detail, contentHash: `${good.detail.contentHash}/../x` },
      { ...good.detail, version: 2.5 },
      { ...good.detail, version: '2/../../x' as unknown as number },
      { ...good.detail, size: -1 },
    ]) {
      serving = { archive: good.archive, detail };
      const e = await refusal();
      expect(e.code).toBe('listing_invalid');
      expect(e.message).toMatch(/the coordinator's bundle listing is invalid: (contentHash|version|size)/);
    }
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(readdirSync(join(dir, 'bundles', 'downloads'))).toEqual(before);
    expect(store.current()?.version).toBe(1);
  });

  it('refuses a bundle signed by a key it did not pin', async () => {
    serving = await bundle(2, await key());
    expect((await refusal()).code).toBe('unknown_kid');
    expect(store.current()?.version).toBe(1);
  });

  it('refuses a bundle for another base model', async () => {
    serving = await bundle(2, pinned, `sha256:${'cd'.repeat(32)}`);
    expect((await refusal()).code).toBe('base_model_mismatch');
    expect(store.current()?.version).toBe(1);
  });

  it('refuses a bundle holding an adapter format it cannot read, keeps the one in use and says to upgrade', async () => {
    // A newer federation's adapter (format version 3), correctly signed: this agent must not install it.
    const b = await bundle(2, pinned, BASE, withAdapterMetadata(testAdapterFile(BASE, 1), { version: 3 }));
    serving = b;
    const e = await refusal();
    expect(e.code).toBe('adapter_version_unsupported');
    expect(e.message).toBe(
      `bundle 2 refused: the adapter of task "liver" (${TEST_TASK_ID}) is format version 3, which this site agent cannot read (it reads versions 1 and 2): upgrade the site agent`,
    );
    expect(store.current()?.version).toBe(1);
    expect(store.pointer().previous).toBeNull();
    expect(existsSync(store.partFile(b.detail.contentHash))).toBe(false);
    // Asking again changes nothing: still refused, still bundle 1.
    expect((await refusal()).code).toBe('adapter_version_unsupported');
    expect(store.current()?.version).toBe(1);
  });

  it('keeps a truncated download, refuses to use it, and resumes it with a range on the next pull', async () => {
    const b = await bundle(3, pinned);
    serving = { ...b, cutAfter: 100_000 };
    await expect(pull()).rejects.toThrow();
    expect(store.current()?.version).toBe(1);
    const kept = store.partSize(b.detail.contentHash);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(b.archive.byteLength);
    serving = b;
    ranges.length = 0;
    const r = await pull();
    expect(r).toMatchObject({ kind: 'installed', installed: { version: 3 }, resumedFromBytes: kept });
    expect(ranges).toEqual([`bytes=${kept}-`]);
  });

  let next: Key;
  it('follows a key rotation only through an endorsement by a pinned key', async () => {
    next = await key();
    const rogue = await key();
    const endorse = async (signer: Key, k: Key) => ({
      kid: k.kid,
      jws: await new CompactSign(
        new TextEncoder().encode(JSON.stringify({ kid: k.kid, x: k.x, endorsedBy: signer.kid })),
      )
        .setProtectedHeader({ alg: 'EdDSA', kid: signer.kid, typ: 'casam-key-endorsement+jws' })
        .sign(signer.privateKey),
    });
    // A key endorsed only by a key this site never pinned is not trusted.
    endorsements = [await endorse(rogue, next)];
    serving = await bundle(4, next);
    expect((await refusal()).code).toBe('unknown_kid');
    // Endorsed by the pinned key: trusted, remembered, and the bundle installs.
    endorsements = [await endorse(pinned, next)];
    const persisted: { kid: string }[][] = [];
    const r = await pullBundle(client, store, state, BASE, log, (keys) => persisted.push(keys));
    expect(r).toMatchObject({ kind: 'installed', installed: { version: 4, kid: next.kid } });
    expect(persisted.at(-1)?.map((k) => k.kid)).toEqual([pinned.kid, next.kid]);
  });

  it('retires a key once its successor signed an installed bundle, and refuses new bundles signed by it', async () => {
    // Bundle 4 (signed by `next`, endorsed by the pinned key) is installed: the pinned key is retired here.
    const old = state.coordinatorKeys!.find((k) => k.kid === pinned.kid)!;
    expect(old.retiredAt).toMatch(/^\d{4}-/);
    expect(state.coordinatorKeys!.find((k) => k.kid === next.kid)).toMatchObject({ endorsedBy: pinned.kid });
    expect(state.coordinatorKeys!.find((k) => k.kid === next.kid)?.retiredAt).toBeUndefined();

    serving = await bundle(5, pinned);
    const e = await refusal();
    expect(e.code).toBe('retired_kid');
    expect(e.message).toMatch(/retired/);
    // A listing that names the new key for an archive signed by the old one gets no further either.
    const forged = await bundle(5, pinned);
    serving = { ...forged, detail: { ...forged.detail, kid: next.kid } };
    expect((await refusal()).code).toBe('unknown_kid');
    expect(store.current()?.version).toBe(4);
    // A retired key cannot vouch for a new key either.
    const rogue = await key();
    endorsements = [
      {
        kid: rogue.kid,
        jws: await new CompactSign(
          new TextEncoder().encode(JSON.stringify({ kid: rogue.kid, x: rogue.x, endorsedBy: pinned.kid })),
        )
          .setProtectedHeader({ alg: 'EdDSA', kid: pinned.kid, typ: 'casam-key-endorsement+jws' })
          .sign(pinned.privateKey),
      },
    ];
    serving = await bundle(6, rogue);
    expect((await refusal()).code).toBe('unknown_kid');
    expect(state.coordinatorKeys!.map((k) => k.kid)).not.toContain(rogue.kid);
  });

  it('rolls back to the previous bundle', () => {
    expect(store.rollback().version).toBe(3);
    expect(store.current()?.version).toBe(3);
    expect(store.pointer().previous?.version).toBe(4);
  });
});
