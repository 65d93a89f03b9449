// New DICOM UIDs without a registered root: PS3.5 B.2 lets anyone use 2.25.<UUID as one decimal integer>, which is
// unique without coordination. A hospital with its own root may pass it; the UUID's digits then fill the rest.
import { randomUUID } from 'node:crypto';

const MAX_UID_LENGTH = 64;
export const UUID_UID_ROOT = '2.25';

/** A fresh UID under `root` (default 2.25), at most 64 characters. */
export function newDicomUid(root: string = UUID_UID_ROOT, uuid: string = randomUUID()): string {
  const value = BigInt(`0x${uuid.replace(/-/g, '')}`);
  const room = MAX_UID_LENGTH - root.length - 1;
  if (room < 8) throw new Error(`UID root "${root}" leaves fewer than 8 digits for a unique suffix`);
  // Keep the low digits when the root is long: still 10^room values, far beyond collision for one site.
  const suffix = (value % 10n ** BigInt(room)).toString();
  return `${root}.${suffix}`;
}
