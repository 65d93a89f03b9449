/**
 * Which site-agent releases read which adapter file format. A coordinator warns an admin who is about to approve
 * an adapter that some enrolled sites cannot read (their agent is older than the format's first reader): those
 * sites would fail to install the next router bundle until they upgrade. Sites report their agent version at
 * enrollment and in every `site.status` report; a site that never reported one counts as unable to read.
 */
import { ADAPTER_VERSION } from './adapter-schema';
import { ADAPTER_VERSION_DECODER_LORA } from './adapter-decoder-lora';

/** The first site-agent version that reads each adapter format version (`formatVersion` of the adapter). */
export const ADAPTER_FORMAT_FIRST_AGENT_VERSION: Readonly<Record<number, string>> = Object.freeze({
  [ADAPTER_VERSION]: '0.1.0',
  /** Decoder deltas (LoRA): read, routed and applied from site agent 0.2.0 on. */
  [ADAPTER_VERSION_DECODER_LORA]: '0.2.0',
});

/** An enrolled site that cannot read an adapter version (shown to the admin beside Approve). */
export interface SiteUnableToRead {
  siteId: string;
  name: string;
  /** What the site last reported; null when it never reported a version. */
  agentVersion: string | null;
}

/** `compatibility` of an adapter version (`GET /api/v1/adapters/:id`, the task's list, approve's answer). */
export interface AdapterCompatibility {
  formatVersion: number;
  /** The first agent version that reads this format. */
  firstAgentVersion: string;
  /** Approved sites whose agent is older (or unknown); empty when every site can read it. */
  sitesUnableToRead: SiteUnableToRead[];
}

/** MAJOR.MINOR.PATCH of a version string (a -prerelease or +build suffix is ignored); null when it has none. */
function releaseTriple(v: string): [number, number, number] | null {
  const m = /^(\d{1,9})\.(\d{1,9})\.(\d{1,9})(?:[-+].*)?$/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

/** Compares two release versions (MAJOR.MINOR.PATCH); null when either is not one. */
export function compareReleaseVersions(a: string, b: string): number | null {
  const x = releaseTriple(a);
  const y = releaseTriple(b);
  if (!x || !y) return null;
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

/**
 * Whether an agent of `agentVersion` reads adapters of `formatVersion`: false for an older agent, an unknown
 * (null or unparseable) version, or a format no release reads.
 */
export function agentReadsAdapterFormat(
  agentVersion: string | null | undefined,
  formatVersion: number,
): boolean {
  const first = ADAPTER_FORMAT_FIRST_AGENT_VERSION[formatVersion];
  if (!first || !agentVersion) return false;
  const c = compareReleaseVersions(agentVersion, first);
  return c !== null && c >= 0;
}

/** The compatibility of an adapter format with these sites (each: id, name, last reported agent version). */
export function adapterCompatibility(
  formatVersion: number,
  sites: readonly { id: string; name: string; agentVersion: string | null }[],
): AdapterCompatibility {
  return {
    formatVersion,
    firstAgentVersion: ADAPTER_FORMAT_FIRST_AGENT_VERSION[formatVersion] ?? 'none',
    sitesUnableToRead: sites
      .filter((s) => !agentReadsAdapterFormat(s.agentVersion, formatVersion))
      .map((s) => ({ siteId: s.id, name: s.name, agentVersion: s.agentVersion })),
  };
}
