/**
 * Wire protocol version (semver). Peers agree on the major version; a client one minor version behind the
 * coordinator is still served, older ones are refused with a message that says what to upgrade.
 */
export const PROTOCOL_VERSION = '0.1.0';

/** Request header (REST) in which a client states the protocol version it speaks; echoed with the server's. */
export const PROTOCOL_HEADER = 'x-casam-protocol';

/** Response header with upgrade advice, set when the client is served but one minor version behind. */
export const PROTOCOL_UPGRADE_HEADER = 'x-casam-upgrade';

export interface ProtocolVersion {
  major: number;
  minor: number;
  patch: number;
}

export function parseProtocolVersion(v: string): ProtocolVersion {
  const m = /^(\d{1,6})\.(\d{1,6})\.(\d{1,6})$/.exec(v);
  if (!m) throw new Error(`invalid protocol version "${v}" (expected MAJOR.MINOR.PATCH)`);
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) };
}

export type ProtocolCheck =
  | { ok: true; /** The client is one minor version behind: served, but should upgrade. */ outdated: boolean }
  | {
      ok: false;
      code: 'protocol_invalid' | 'protocol_too_old' | 'protocol_too_new';
      message: string;
    };

/**
 * Whether a server speaking `server` serves a client speaking `client`: same major version and the client's
 * minor at most one behind. A client ahead of the server (newer minor) is served too — new clients must keep
 * speaking to a coordinator one minor behind them; only another major version is refused.
 */
export function checkProtocolCompatibility(client: string, server: string = PROTOCOL_VERSION): ProtocolCheck {
  let c: ProtocolVersion;
  try {
    c = parseProtocolVersion(client);
  } catch (e) {
    return { ok: false, code: 'protocol_invalid', message: (e as Error).message };
  }
  const s = parseProtocolVersion(server);
  const oldest = `${s.major}.${Math.max(0, s.minor - 1)}.0`;
  if (c.major < s.major || (c.major === s.major && c.minor < s.minor - 1))
    return {
      ok: false,
      code: 'protocol_too_old',
      message: `this coordinator speaks protocol ${server} and serves clients from ${oldest}; the client speaks ${client}: upgrade the site agent (or admin client) to a release that speaks protocol ≥ ${oldest}`,
    };
  if (c.major > s.major)
    return {
      ok: false,
      code: 'protocol_too_new',
      message: `this coordinator speaks protocol ${server}; the client speaks ${client} (a newer major version): upgrade the coordinator, or use a client release for protocol ${s.major}.x`,
    };
  return { ok: true, outdated: c.major === s.major && c.minor < s.minor };
}
