import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, CompactSign, type CryptoKey, exportJWK, generateKeyPair } from 'jose';
import { type BundleDetail, type BundleManifest, bundleAdapterPath, writeUstar } from '@casam/protocol';
import { initialAlignmentStateDict, initialTaskVaeStateDict, writeAdapterFile } from '@casam/casam-core';
import { constantDecoderLora } from '@casam/casam-core/testing';
import { BundleStore, type InstalledBundle } from '../bundle/bundle-store';
import type { AgentHome } from '../home/agent-home';

/** A coordinator bundle-signing key made up for a test. */
export interface TestSigner {
  kid: string;
  x: string;
  privateKey: CryptoKey;
}

export const TEST_TASK_ID = '6c1f2a77-55aa-4c0e-9d3e-8e0f3b2a1d44';
export const TEST_BASE_FINGERPRINT = `sha256:${'ab'.repeat(32)}`;
export const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export async function testSigner(): Promise<TestSigner> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const jwk = await exportJWK(publicKey);
  return { kid: await calculateJwkThumbprint(jwk), x: jwk.x!, privateKey };
}

/**
 * A router bundle archive as the coordinator builds it — manifest.json, manifest.jws (EdDSA by `signer`) and one
 * adapter for the task "liver" — with the listing the coordinator would serve for it.
 */
export async function signedTestBundle(
  version: number,
  signer: TestSigner,
  o: {
    base?: string;
    adapter: Uint8Array;
    /** What the coordinator recorded for the task (default: liver, CT, [liver]). */
    task?: { name?: string; modality?: string; targetStructures?: string[] };
  },
): Promise<{ archive: Uint8Array; manifest: BundleManifest; detail: BundleDetail }> {
  const base = o.base ?? TEST_BASE_FINGERPRINT;
  const manifest: BundleManifest = {
    format: 'casam-router-bundle',
    bundleVersion: version,
    protocolVersion: '0.1.0',
    baseModel: { fingerprint: base, preset: 'casam-tiny', channels: 64 },
    createdAt: '2026-11-26T00:00:00.000Z',
    tasks: [
      {
        taskId: TEST_TASK_ID,
        name: o.task?.name ?? 'liver',
        modality: o.task?.modality ?? 'CT',
        targetStructures: o.task?.targetStructures ?? ['liver'],
        adapterVersion: version,
        adapterVersionId: `av-${version}`,
        tau: 1,
        tauStats: { tau: 1 },
        sha256: sha256Hex(o.adapter),
        size: o.adapter.byteLength,
        path: bundleAdapterPath(TEST_TASK_ID),
      },
    ],
  };
  const json = new TextEncoder().encode(JSON.stringify(manifest));
  const jws = await new CompactSign(json)
    .setProtectedHeader({ alg: 'EdDSA', kid: signer.kid, typ: 'casam-bundle+jws' })
    .sign(signer.privateKey);
  const archive = writeUstar([
    { name: 'manifest.json', data: json },
    { name: 'manifest.jws', data: new TextEncoder().encode(jws) },
    { name: bundleAdapterPath(TEST_TASK_ID), data: o.adapter },
  ]);
  const detail: BundleDetail = {
    version,
    contentHash: sha256Hex(archive),
    size: archive.byteLength,
    protocolVersion: '0.1.0',
    baseModelFingerprint: base,
    taskCount: 1,
    kid: signer.kid,
    createdAt: manifest.createdAt,
    manifest,
    jws,
  };
  return { archive, manifest, detail };
}

/**
 * A loadable casam-tiny adapter (64 channels, initial weights) for the test task: τ = 1e9 routes every image to
 * it, τ = -1e9 makes it refuse every image (fallback, naming it as the best task). With `decoderLora`, a version
 * 2 file whose delta changes nothing.
 */
export function testAdapterFile(
  base: string,
  tau: number,
  o: { taskId?: string; decoderLora?: Parameters<typeof constantDecoderLora>[1] } = {},
): Uint8Array {
  return writeAdapterFile({
    taskId: o.taskId ?? TEST_TASK_ID,
    baseModel: { preset: 'casam-tiny', fingerprint: base },
    tau: { tau, p95: tau, p99: tau, mean: 1, std: 1, n: 5, percentile: 97 },
    align: initialAlignmentStateDict(64, 1),
    vae: initialTaskVaeStateDict(64, 1),
    ...(o.decoderLora && { decoderLora: constantDecoderLora(64, o.decoderLora) }),
  });
}

/**
 * An adapter file with its `casam` metadata changed by `patch` (e.g. `{version: 3}`: a format from a newer
 * federation), tensors untouched.
 */
export function withAdapterMetadata(file: Uint8Array, patch: Record<string, unknown>): Uint8Array {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n)));
  header.__metadata__.casam = JSON.stringify({ ...JSON.parse(header.__metadata__.casam), ...patch });
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.byteLength + file.byteLength - 8 - n);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.byteLength), true);
  out.set(head, 8);
  out.set(file.subarray(8 + n), 8 + head.byteLength);
  return out;
}

/**
 * Installs a signed bundle with one loadable task in an agent home as `pull` would (the signer is pinned in
 * state.json if it was not), so `segment` and `serve` load it.
 */
export async function installTestBundle(
  home: AgentHome,
  version: number,
  signer: TestSigner,
  o: { base: string; tau: number; task?: { name?: string; modality?: string; targetStructures?: string[] } },
): Promise<InstalledBundle> {
  const { archive, manifest } = await signedTestBundle(version, signer, {
    base: o.base,
    adapter: testAdapterFile(o.base, o.tau),
    task: o.task,
  });
  home.updateState((st) => {
    st.coordinatorKeys ??= [];
    if (!st.coordinatorKeys.some((k) => k.kid === signer.kid))
      st.coordinatorKeys.push({ kid: signer.kid, x: signer.x });
  });
  const store = new BundleStore(home.bundlesDir);
  store.appendPart(sha256Hex(archive), archive);
  return store.install(sha256Hex(archive), manifest, signer.kid);
}
