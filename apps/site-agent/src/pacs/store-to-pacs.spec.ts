import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type OrthancServer, startOrthanc, writeSegFor, writeSyntheticSeries } from '@casam/dicom/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EgressLog, parseEgressLog } from '../egress/egress-log';
import { dicomJsonString, TAG } from './dicom-json';
import { DicomwebClient } from './dicomweb-client';
import { PacsError } from './pacs-error';
import { storeToPacs } from './store-to-pacs';

describe('storeToPacs against a real Orthanc', () => {
  let orthanc: OrthancServer;
  const work = mkdtempSync(join(tmpdir(), 'pacs-store-'));
  const log = new EgressLog(join(work, 'egress.log'));
  beforeAll(async () => {
    orthanc = await startOrthanc({ dicomWeb: true });
  });
  afterAll(async () => {
    await orthanc?.stop();
  });

  it('stores a series and its DICOM-SEG, a few files per request, and the SEG is found and read back', async () => {
    const mr = await writeSyntheticSeries(join(work, 'mr'), {
      modality: 'MR',
      slices: 4,
      rows: 16,
      cols: 16,
      patientId: 'STOWPAT7',
      patientName: 'Stow^Test',
      seed: 31,
    });
    const seg = await writeSegFor(mr, [{ label: 'organ', masks: mr.objectMasks }], { seed: 32 });
    const imageBytes = readFileSync(mr.files[0]).byteLength;

    const images = await storeToPacs({
      pacsUrl: orthanc.dicomWebUrl,
      files: mr.files,
      log,
      maxBatchBytes: imageBytes * 2,
    });
    expect(images).toEqual({ stored: 4, requests: 2 });
    expect(await storeToPacs({ pacsUrl: orthanc.dicomWebUrl, files: [seg.file], log })).toEqual({
      stored: 1,
      requests: 1,
    });

    const client = new DicomwebClient({ url: orthanc.dicomWebUrl, log });
    const segs = await client.searchSeries({ Modality: 'SEG' }, mr.studyInstanceUid);
    expect(segs.map((s) => dicomJsonString(s, TAG.seriesUid))).toEqual([seg.seriesInstanceUid]);
    const back = await client.retrieveInstance(
      mr.studyInstanceUid,
      seg.seriesInstanceUid,
      seg.sopInstanceUid,
    );
    expect(Buffer.from(back).toString('latin1')).toContain(seg.sopInstanceUid);

    const stows = parseEgressLog(readFileSync(log.file, 'utf8')).filter((r) => r.type === 'pacs_stow');
    expect(stows.map((r) => [r.method, r.outcome])).toEqual([
      ['POST', '200'],
      ['POST', '200'],
      ['POST', '200'],
    ]);
    expect(stows.every((r) => r.bytes > 0 && /^[0-9a-f]{64}$/.test(r.sha256))).toBe(true);
  });

  it('stops at a request the PACS refuses, with its PacsError', async () => {
    const junk = join(work, 'junk.dcm');
    writeFileSync(junk, 'not DICOM');
    const err = await storeToPacs({ pacsUrl: orthanc.dicomWebUrl, files: [junk], log }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PacsError);
    expect((err as PacsError).message).toMatch(/refused 1 of 1 instances/);
  });
});
