import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { pacsLogTarget, uidFileName, uidPseudonym } from './pacs-log-target';

const study = '1.2.826.0.1.3680043.8.498.1';
const series = '1.2.826.0.1.3680043.8.498.1.2';

describe('pacsLogTarget', () => {
  it('replaces every UID in the path with its sha256 pseudonym and drops credentials', () => {
    const target = pacsLogTarget(
      new URL(`https://user:secret@pacs.example:8443/dicom-web/studies/${study}/series/${series}/instances`),
    );
    const sha = createHash('sha256').update(study).digest('hex').slice(0, 12);
    expect(target).toBe(
      `https://pacs.example:8443/dicom-web/studies/sha:${sha}/series/${uidPseudonym(series)}/instances`,
    );
    expect(target).not.toContain(study);
    expect(target).not.toContain('secret');
  });

  it('keeps only the keys of identifying query parameters, the values of paging ones, UIDs as pseudonyms', () => {
    const url = new URL('http://127.0.0.1:8042/dicom-web/studies');
    url.searchParams.set('PatientID', 'PAT-123');
    url.searchParams.set('PatientName', 'Doe^Jane');
    url.searchParams.set('AccessionNumber', 'ACC9');
    url.searchParams.set('StudyInstanceUID', study);
    url.searchParams.set('limit', '50');
    url.searchParams.set('includefield', '00081030');
    const target = pacsLogTarget(url);
    expect(target).toBe(
      `http://127.0.0.1:8042/dicom-web/studies?PatientID&PatientName&AccessionNumber&StudyInstanceUID=${uidPseudonym(study)}&limit=50&includefield=00081030`,
    );
    for (const secret of ['PAT-123', 'Doe', 'ACC9', study]) expect(target).not.toContain(secret);
  });

  it('names files by the same pseudonym without its prefix', () => {
    expect(`sha:${uidFileName(series)}`).toBe(uidPseudonym(series));
    expect(uidFileName(series)).toMatch(/^[0-9a-f]{12}$/);
  });
});
