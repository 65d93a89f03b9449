import { createHash } from 'node:crypto';

/**
 * What the egress log (and every PACS error message) says about a PACS request: the PACS origin and the path
 * with each DICOM UID replaced by a pseudonym, `sha:` + the first 12 hex of its sha256. Query values are kept
 * only for paging and field selection; for every other key (PatientID, PatientName, AccessionNumber,
 * StudyDate…) only the key is logged. A UID in a query value becomes its pseudonym too, so an audit can
 * still match a search to the retrieves that followed it. Credentials in the URL never appear.
 *
 *   https://pacs.hospital:443/dicom-web/studies/sha:3f2a9c01be77/series?PatientID&limit=50
 */

/** Query keys whose values say nothing about a patient. */
const SAFE_QUERY_KEYS = new Set(['limit', 'offset', 'includefield', 'fuzzymatching']);

/** A DICOM UID: dot-separated numeric components (PS3.5 §9), up to 64 characters. */
const UID = /^[0-9]+(\.[0-9]+)+$/;

/** The pseudonym of one UID (the folder and file names of pulled instances use it too). */
export function uidPseudonym(uid: string): string {
  return `sha:${createHash('sha256').update(uid).digest('hex').slice(0, 12)}`;
}

/** `sha:3f2a9c01be77` → `3f2a9c01be77`: the same pseudonym as a file or folder name. */
export const uidFileName = (uid: string): string => uidPseudonym(uid).slice(4);

export function pacsLogTarget(url: URL): string {
  const path = url.pathname
    .split('/')
    .map((seg) => {
      const decoded = safeDecode(seg);
      return UID.test(decoded) ? uidPseudonym(decoded) : seg;
    })
    .join('/');
  const query = [...url.searchParams].map(([key, value]) => {
    if (SAFE_QUERY_KEYS.has(key.toLowerCase())) return `${key}=${value}`;
    const values = value.split(/[\\,]/);
    if (values.every((v) => UID.test(v))) return `${key}=${values.map(uidPseudonym).join(',')}`;
    return key;
  });
  return `${url.protocol}//${url.host}${path}${query.length ? `?${query.join('&')}` : ''}`;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
