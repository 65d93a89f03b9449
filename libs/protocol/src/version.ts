/**
 * Wire protocol version (semver). Peers agree on the major version; a minor version behind still works.
 */
export const PROTOCOL_VERSION = '0.1.0';

export function parseProtocolVersion(v: string): { major: number; minor: number; patch: number } {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  if (!m) throw new Error(`invalid protocol version "${v}" (expected MAJOR.MINOR.PATCH)`);
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) };
}
