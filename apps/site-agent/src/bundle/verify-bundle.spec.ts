import { createHash } from 'node:crypto';
import {
  calculateJwkThumbprint,
  CompactSign,
  type CryptoKey,
  exportJWK,
  generateKeyPair,
  type JSONWebKeySet,
} from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { type BundleManifest, bundleAdapterPath, writeUstar } from '@casam/protocol';
import {
  TEST_BASE_FINGERPRINT,
  testAdapterFile,
  withAdapterMetadata,
} from '../testing/signed-bundle.testing';
import { BundleVerificationError, verifyBundle } from './verify-bundle';

interface Signer {
  kid: string;
  privateKey: CryptoKey;
  jwks: JSONWebKeySet;
}

async function signer(): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, privateKey, jwks: { keys: [{ ...jwk, kid, alg: 'EdDSA', use: 'sig' }] } };
}

const ids = ['0b7c6f0e-9a51-4a55-8f1b-2d9b8a1f3c10', '6c1f2a77-55aa-4c0e-9d3e-8e0f3b2a1d44'];
const LORA = {
  rank: 2,
  alpha: 4,
  layers: ['transformer.layers.0.self_attn.q_proj', 'output_hypernetworks_mlps.0.layers.2'],
};
/** Task 0 has an Alignment Layer only (version 1), task 1 a decoder delta too (version 2). */
const adapters = [
  testAdapterFile(TEST_BASE_FINGERPRINT, 1, { taskId: ids[0] }),
  testAdapterFile(TEST_BASE_FINGERPRINT, 1, { taskId: ids[1], decoderLora: LORA }),
];
const KIND = [{}, { adapterFormatVersion: 2, decoderLora: { rank: 2, alpha: 4, layers: 2 } }];
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function manifestOf(over: Partial<BundleManifest> = {}): BundleManifest {
  return {
    format: 'casam-router-bundle',
    bundleVersion: 3,
    protocolVersion: '0.1.0',
    baseModel: { fingerprint: `sha256:${'ab'.repeat(32)}`, preset: 'casam-tiny', channels: 64 },
    createdAt: '2026-05-01T00:00:00.000Z',
    tasks: ids.map((taskId, i) => ({
      taskId,
      name: `task-${i}`,
      modality: 'CT',
      targetStructures: ['liver'],
      adapterVersion: 1,
      adapterVersionId: `av-${i}`,
      tau: 0.4,
      tauStats: { tau: 0.4 },
      sha256: sha(adapters[i]),
      size: adapters[i].byteLength,
      path: bundleAdapterPath(taskId),
      ...KIND[i],
    })),
    ...over,
  };
}

async function sign(s: Signer, payload: Uint8Array, header: Record<string, unknown> = {}): Promise<string> {
  return new CompactSign(payload)
    .setProtectedHeader({ alg: 'EdDSA', kid: s.kid, typ: 'casam-bundle+jws', ...header })
    .sign(s.privateKey);
}

async function bundle(
  s: Signer,
  opts: {
    manifest?: BundleManifest;
    /** What goes in manifest.json when it should differ from the signed bytes. */
    manifestFile?: Uint8Array;
    jws?: string;
    files?: { name: string; data: Uint8Array }[];
  } = {},
): Promise<Uint8Array> {
  const manifest = new TextEncoder().encode(JSON.stringify(opts.manifest ?? manifestOf()));
  const jws = opts.jws ?? (await sign(s, manifest));
  return writeUstar([
    { name: 'manifest.json', data: opts.manifestFile ?? manifest },
    { name: 'manifest.jws', data: new TextEncoder().encode(jws) },
    ...(opts.files ?? ids.map((id, i) => ({ name: bundleAdapterPath(id), data: adapters[i] }))),
  ]);
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(BundleVerificationError);
    return (e as BundleVerificationError).code;
  }
  throw new Error('verified, but should have been refused');
}

describe('verifyBundle', () => {
  let coordinator: Signer;
  let stranger: Signer;
  beforeAll(async () => {
    coordinator = await signer();
    stranger = await signer();
  });

  it('accepts a well-formed bundle and hands out its manifest and adapters', async () => {
    const archive = await bundle(coordinator);
    const v = await verifyBundle(archive, coordinator.jwks, { expectedContentHash: sha(archive) });
    expect(v.kid).toBe(coordinator.kid);
    expect(v.manifest).toEqual(manifestOf());
    expect(v.contentHash).toBe(sha(archive));
    expect([...v.adapters.keys()]).toEqual(ids);
    expect(Buffer.from(v.adapters.get(ids[1])!).equals(Buffer.from(adapters[1]))).toBe(true);
  });

  it('accepts an empty bundle', async () => {
    const archive = await bundle(coordinator, {
      manifest: manifestOf({ baseModel: null, tasks: [] }),
      files: [],
    });
    expect((await verifyBundle(archive, coordinator.jwks)).manifest.tasks).toEqual([]);
  });

  it('refuses a bundle signed by a key the site does not know', async () => {
    expect(await refusal(verifyBundle(await bundle(stranger), coordinator.jwks))).toBe('unknown_kid');
  });

  it('refuses a signature by another key under the coordinator kid', async () => {
    const manifest = new TextEncoder().encode(JSON.stringify(manifestOf()));
    const forged = await new CompactSign(manifest)
      .setProtectedHeader({ alg: 'EdDSA', kid: coordinator.kid, typ: 'casam-bundle+jws' })
      .sign(stranger.privateKey);
    expect(await refusal(verifyBundle(await bundle(coordinator, { jws: forged }), coordinator.jwks))).toBe(
      'signature_invalid',
    );
  });

  it('refuses a tampered adapter, a tampered manifest and a swapped adapter', async () => {
    const files = ids.map((id, i) => ({ name: bundleAdapterPath(id), data: adapters[i].slice() }));
    files[0].data[10] ^= 1;
    expect(await refusal(verifyBundle(await bundle(coordinator, { files }), coordinator.jwks))).toBe(
      'adapter_hash_mismatch',
    );

    const altered = new TextEncoder().encode(JSON.stringify(manifestOf({ bundleVersion: 99 })));
    expect(
      await refusal(verifyBundle(await bundle(coordinator, { manifestFile: altered }), coordinator.jwks)),
    ).toBe('manifest_mismatch');

    const swapped = ids.map((id, i) => ({ name: bundleAdapterPath(id), data: adapters[1 - i] }));
    expect(await refusal(verifyBundle(await bundle(coordinator, { files: swapped }), coordinator.jwks))).toBe(
      'adapter_size_mismatch',
    );
  });

  it("refuses an entry whose format version or decoder delta is not its file's", async () => {
    const refused = async (m: BundleManifest) =>
      refusal(verifyBundle(await bundle(coordinator, { manifest: m }), coordinator.jwks));
    const entry = (i: number, over: object) =>
      manifestOf({ tasks: manifestOf().tasks.map((t, j) => (j === i ? { ...t, ...over } : t)) });
    expect(await refused(entry(1, { adapterFormatVersion: undefined }))).toBe('adapter_kind_mismatch');
    expect(await refused(entry(1, { decoderLora: undefined }))).toBe('adapter_kind_mismatch');
    expect(await refused(entry(1, { decoderLora: { rank: 4, alpha: 4, layers: 2 } }))).toBe(
      'adapter_kind_mismatch',
    );
    expect(await refused(entry(1, { decoderLora: { rank: 2, alpha: 4, layers: 30 } }))).toBe(
      'adapter_kind_mismatch',
    );
    expect(await refused(entry(0, { adapterFormatVersion: 2 }))).toBe('adapter_kind_mismatch');
    expect(await refused(entry(0, { decoderLora: { rank: 2, alpha: 4, layers: 2 } }))).toBe(
      'adapter_kind_mismatch',
    );
  });

  it('refuses an adapter format it cannot read, naming the task and the version: upgrade the site agent', async () => {
    const v3 = withAdapterMetadata(adapters[0], { version: 3 });
    const files = [v3, adapters[1]];
    const m = manifestOf({
      tasks: manifestOf().tasks.map((t, i) =>
        i === 0 ? { ...t, adapterFormatVersion: 3, sha256: sha(v3), size: v3.byteLength } : t,
      ),
    });
    const archive = await bundle(coordinator, {
      manifest: m,
      files: ids.map((id, i) => ({ name: bundleAdapterPath(id), data: files[i] })),
    });
    const e = await verifyBundle(archive, coordinator.jwks).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BundleVerificationError);
    expect((e as BundleVerificationError).code).toBe('adapter_version_unsupported');
    expect((e as BundleVerificationError).message).toBe(
      `the adapter of task "task-0" (${ids[0]}) is format version 3, which this site agent cannot read (it reads versions 1 and 2): upgrade the site agent`,
    );
  });

  it('refuses a file that is no adapter at all', async () => {
    const junk = new Uint8Array(700).map((_, j) => (j * 7) & 0xff);
    const m = manifestOf({
      tasks: manifestOf().tasks.map((t, i) =>
        i === 0 ? { ...t, sha256: sha(junk), size: junk.byteLength } : t,
      ),
    });
    const archive = await bundle(coordinator, {
      manifest: m,
      files: ids.map((id, i) => ({ name: bundleAdapterPath(id), data: i === 0 ? junk : adapters[i] })),
    });
    expect(await refusal(verifyBundle(archive, coordinator.jwks))).toBe('adapter_unreadable');
  });

  it('refuses extra and missing entries', async () => {
    const extra = [
      ...ids.map((id, i) => ({ name: bundleAdapterPath(id), data: adapters[i] })),
      { name: 'adapters/evil.bin', data: new Uint8Array(3) },
    ];
    expect(await refusal(verifyBundle(await bundle(coordinator, { files: extra }), coordinator.jwks))).toBe(
      'unexpected_entry',
    );
    const missing = [{ name: bundleAdapterPath(ids[0]), data: adapters[0] }];
    expect(await refusal(verifyBundle(await bundle(coordinator, { files: missing }), coordinator.jwks))).toBe(
      'missing_entry',
    );
  });

  it('refuses a signed manifest that breaks the rules', async () => {
    const m = manifestOf();
    m.tasks[0].path = '../../etc/passwd';
    expect(await refusal(verifyBundle(await bundle(coordinator, { manifest: m }), coordinator.jwks))).toBe(
      'manifest_invalid',
    );
    const other = await bundle(coordinator, {
      manifest: { ...manifestOf(), format: 'zip' as 'casam-router-bundle' },
    });
    expect(await refusal(verifyBundle(other, coordinator.jwks))).toBe('manifest_invalid');
  });

  it('refuses a JWS of the wrong type, a truncated archive and a hash other than the expected one', async () => {
    const manifest = new TextEncoder().encode(JSON.stringify(manifestOf()));
    const wrongTyp = await sign(coordinator, manifest, { typ: 'JWT' });
    expect(await refusal(verifyBundle(await bundle(coordinator, { jws: wrongTyp }), coordinator.jwks))).toBe(
      'jws_malformed',
    );
    expect(
      await refusal(verifyBundle(await bundle(coordinator, { jws: 'not a jws' }), coordinator.jwks)),
    ).toBe('jws_malformed');
    const archive = await bundle(coordinator);
    expect(
      await refusal(verifyBundle(archive.subarray(0, archive.byteLength - 1024), coordinator.jwks)),
    ).toBe('archive_malformed');
    expect(
      await refusal(verifyBundle(archive, coordinator.jwks, { expectedContentHash: '0'.repeat(64) })),
    ).toBe('content_hash_mismatch');
  });
});
