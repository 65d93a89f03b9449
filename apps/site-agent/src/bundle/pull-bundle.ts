import { readFileSync } from 'node:fs';
import {
  type BundleDetail,
  type BundleJwks,
  KEY_ENDORSEMENT_JWS_TYPE,
  KEY_ENDORSEMENTS_PATH,
  type KeyEndorsementClaims,
  type KeyEndorsements,
} from '@casam/protocol';
import { calculateJwkThumbprint, compactVerify, decodeProtectedHeader, importJWK } from 'jose';
import type { JSONWebKeySet } from 'jose';
import type { CoordinatorClient } from '../coordinator/coordinator-client';
import type { AgentState } from '../home/agent-home';
import { printable } from '../cli/printable';
import { type BundleStore, CONTENT_HASH, type InstalledBundle } from './bundle-store';
import { BundleVerificationError, verifyBundle } from './verify-bundle';

export type PullOutcome =
  | { kind: 'none-published' }
  | { kind: 'up-to-date'; current: InstalledBundle }
  | {
      kind: 'installed';
      installed: InstalledBundle;
      previous: InstalledBundle | null;
      resumedFromBytes: number;
    };

/** A bundle the site refuses to use; the one in use stays in use. */
export class BundleRefusedError extends Error {
  override name = 'BundleRefusedError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The trusted coordinator keys as a JWKS (what bundles must verify against). New bundles must be signed by a key
 * not retired here; an installed bundle (rollback included) may be signed by a key retired since.
 */
export function pinnedJwks(state: AgentState, o: { includeRetired?: boolean } = {}): JSONWebKeySet {
  return {
    keys: (state.coordinatorKeys ?? [])
      .filter((k) => o.includeRetired || !k.retiredAt)
      .map((k) => ({
        kty: 'OKP',
        crv: 'Ed25519',
        x: k.x,
        kid: k.kid,
        alg: 'EdDSA',
        use: 'sig',
      })),
  };
}

/**
 * Fetches the newest bundle if it is newer than the one in use, resuming a partial download, then verifies it
 * (pinned key, manifest, every adapter hash, the base-model fingerprint) and swaps it in atomically. Any
 * failure leaves the bundle in use untouched; a download that fails its hash is discarded, a merely
 * interrupted one is kept for the next pull.
 */
export async function pullBundle(
  client: CoordinatorClient,
  store: BundleStore,
  state: AgentState,
  baseModelFingerprint: string,
  log: (l: string) => void,
  /** Called with the whole pinned set when endorsed keys were added (persist it). */
  onKeysTrusted?: (keys: { kid: string; x: string }[]) => void,
): Promise<PullOutcome> {
  const latest: BundleDetail | null = await client.latestBundle();
  const current = store.current();
  if (!latest) return { kind: 'none-published' };
  checkListing(latest);
  if (current && latest.version <= current.version) return { kind: 'up-to-date', current };

  const retired = (state.coordinatorKeys ?? []).find((k) => k.kid === latest.kid && k.retiredAt);
  if (retired)
    throw new BundleRefusedError(
      'retired_kid',
      `bundle ${latest.version} is signed by coordinator key ${latest.kid}, which this site retired on ${retired.retiredAt} (a bundle signed by its successor was installed); the coordinator no longer signs with it`,
    );

  const hash = latest.contentHash;
  const resumedFrom = store.partSize(hash);
  if (resumedFrom > latest.size) store.discardPart(hash);
  const have = store.partSize(hash);
  if (have < latest.size) {
    const res = await client.send(
      'read_bundle',
      {
        path: `/api/v1/bundles/${latest.version}/archive`,
        headers: have > 0 ? { range: `bytes=${have}-` } : {},
      },
      { idempotent: true },
    );
    if (have > 0 && res.status !== 206) store.discardPart(hash); // the server sent the whole archive
    if (!res.body) throw new BundleRefusedError('archive_malformed', 'the coordinator sent no archive body');
    const reader = res.body.getReader();
    let got = store.partSize(hash);
    let lastLog = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      store.appendPart(hash, value);
      got += value.byteLength;
      if (got - lastLog > 8 * 1024 * 1024) {
        lastLog = got;
        log(`  ${((100 * got) / latest.size).toFixed(0)}% of ${latest.size} bytes`);
      }
    }
    if (got < latest.size)
      throw new BundleRefusedError(
        'download_incomplete',
        `bundle ${latest.version}: got ${got} of ${latest.size} bytes; run pull again to resume`,
      );
  }
  const bytes = new Uint8Array(readFileSync(store.partFile(hash)));
  let verified;
  try {
    try {
      verified = await verifyBundle(bytes, pinnedJwks(state), { expectedContentHash: hash });
    } catch (e) {
      // Signed by a key this site has not pinned: follow the coordinator's endorsement chain from a pinned key.
      if (!(e instanceof BundleVerificationError && e.code === 'unknown_kid')) throw e;
      // Only keys not retired here may vouch for new ones.
      const trusted = (state.coordinatorKeys ?? []).filter((k) => !k.retiredAt);
      const known = new Set((state.coordinatorKeys ?? []).map((k) => k.kid));
      const added = (await followEndorsements(client, trusted)).filter((k) => !known.has(k.kid));
      if (added.length === 0) throw e;
      for (const k of added)
        log(
          `trusting coordinator signing key ${printable(k.kid)} (endorsed by ${printable(k.endorsedBy)}, pinned before)`,
        );
      state.coordinatorKeys = [...(state.coordinatorKeys ?? []), ...added];
      onKeysTrusted?.(state.coordinatorKeys);
      verified = await verifyBundle(bytes, pinnedJwks(state), { expectedContentHash: hash });
    }
  } catch (e) {
    if (e instanceof BundleVerificationError) {
      store.discardPart(hash);
      // The message may quote the archive (its key id): escaped, it is printed.
      throw new BundleRefusedError(e.code, `bundle ${latest.version} refused: ${printable(e.message)}`);
    }
    throw e;
  }
  const m = verified.manifest;
  if (m.bundleVersion !== latest.version)
    throw new BundleRefusedError(
      'manifest_mismatch',
      `bundle says version ${m.bundleVersion}, the coordinator listed ${latest.version}`,
    );
  if (m.baseModel && m.baseModel.fingerprint !== baseModelFingerprint) {
    store.discardPart(hash);
    throw new BundleRefusedError(
      'base_model_mismatch',
      `bundle ${m.bundleVersion} was trained against base model ${m.baseModel.preset} ${m.baseModel.fingerprint}; this site runs ${baseModelFingerprint}`,
    );
  }
  const previous = store.current();
  const installed = store.install(hash, m, verified.kid);
  const newlyRetired = retirePredecessors(state, verified.kid, new Date());
  if (newlyRetired.length > 0) {
    log(
      `coordinator key(s) ${newlyRetired.join(', ')} retired here: bundles are now signed by their successor ${verified.kid}`,
    );
    onKeysTrusted?.(state.coordinatorKeys ?? []);
  }
  return { kind: 'installed', installed, previous, resumedFromBytes: have };
}

/**
 * The listing's fields that become file names, paths and byte counts are checked before anything touches the disk
 * or the network: the content hash names the `.part` download (a `../` in it would write and delete files outside
 * the agent home), the version goes into the archive's URL and file name. Nothing in the listing is trusted for
 * more than that: the archive is verified against the pinned keys afterwards.
 */
function checkListing(l: BundleDetail): void {
  const bad = (what: string): never => {
    throw new BundleRefusedError('listing_invalid', `the coordinator's bundle listing is invalid: ${what}`);
  };
  if (typeof l !== 'object' || l === null) bad('not an object');
  if (!Number.isSafeInteger(l.version) || l.version < 1)
    bad(`version ${printable(JSON.stringify(l.version))} is not a positive integer`);
  if (typeof l.contentHash !== 'string' || !CONTENT_HASH.test(l.contentHash))
    bad(`contentHash ${printable(JSON.stringify(l.contentHash))} is not a lowercase hex sha256`);
  if (!Number.isSafeInteger(l.size) || l.size < 1)
    bad(`size ${printable(JSON.stringify(l.size))} is not a byte count`);
  if (typeof l.kid !== 'string') bad('kid is missing');
}

/**
 * Marks every key that (transitively) endorsed `kid` as retired: the coordinator signs with a successor now, so a
 * new bundle signed by an older key is either a mistake or a stolen key. Returns the kids newly retired.
 */
export function retirePredecessors(state: AgentState, kid: string, at: Date): string[] {
  const byKid = new Map((state.coordinatorKeys ?? []).map((k) => [k.kid, k]));
  const out: string[] = [];
  const seen = new Set<string>([kid]);
  for (let k = byKid.get(kid); k?.endorsedBy && !seen.has(k.endorsedBy); k = byKid.get(k.endorsedBy)) {
    seen.add(k.endorsedBy);
    const parent = byKid.get(k.endorsedBy);
    if (parent && !parent.retiredAt) {
      parent.retiredAt = at.toISOString();
      out.push(parent.kid);
    }
  }
  return out;
}

export type { BundleJwks };

/**
 * Keys the coordinator endorsed, reachable from the pinned ones: each endorsement is a JWS by an already trusted
 * key over the next key's `{kid, x}`. Anything that does not verify against a trusted key is ignored.
 */
export async function followEndorsements(
  client: CoordinatorClient,
  pinned: readonly { kid: string; x: string }[],
): Promise<{ kid: string; x: string; endorsedBy: string }[]> {
  const { endorsements } = await client.json<KeyEndorsements>(
    'read_jwks',
    { path: KEY_ENDORSEMENTS_PATH },
    { idempotent: true, auth: false },
  );
  const trusted = new Map(pinned.map((k) => [k.kid, k.x]));
  const added: { kid: string; x: string; endorsedBy: string }[] = [];
  for (let progress = true; progress;) {
    progress = false;
    for (const e of endorsements) {
      if (trusted.has(e.kid)) continue;
      let header: { kid?: string; typ?: string };
      try {
        header = decodeProtectedHeader(e.jws) as { kid?: string; typ?: string };
      } catch {
        continue;
      }
      const signer = header.kid ? trusted.get(header.kid) : undefined;
      if (!signer || header.typ !== KEY_ENDORSEMENT_JWS_TYPE) continue;
      try {
        const key = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: signer }, 'EdDSA');
        const { payload } = await compactVerify(e.jws, key);
        const c = JSON.parse(new TextDecoder().decode(payload)) as KeyEndorsementClaims;
        if (c.kid !== e.kid || c.endorsedBy !== header.kid || typeof c.x !== 'string') continue;
        if ((await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: c.x })) !== c.kid) continue;
        trusted.set(c.kid, c.x);
        added.push({ kid: c.kid, x: c.x, endorsedBy: c.endorsedBy });
        progress = true;
      } catch {
        continue;
      }
    }
  }
  return added;
}
