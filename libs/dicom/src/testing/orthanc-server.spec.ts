import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OrthancServer, startOrthanc } from './orthanc-server';
import { writeTestInstance } from './test-instance';

const instance = {
  patientId: 'PAT-ORTHANC-1',
  patientName: 'Harness^Test',
  studyUid: '1.2.826.0.1.3680043.10.1145.7.1',
  seriesUid: '1.2.826.0.1.3680043.10.1145.7.1.1',
  sopUid: '1.2.826.0.1.3680043.10.1145.7.1.1.1',
};

describe('startOrthanc', () => {
  let orthanc: OrthancServer;
  beforeAll(async () => {
    orthanc = await startOrthanc({ dicomWeb: true });
  });
  afterAll(async () => {
    await orthanc?.stop();
  });

  it('answers on a loopback port and finds an uploaded instance over QIDO-RS', async () => {
    expect(orthanc.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const stored = await orthanc.upload(writeTestInstance(instance));
    expect(stored.Status).toBe('Success');

    const res = await fetch(`${orthanc.dicomWebUrl}/studies?PatientID=${instance.patientId}`, {
      headers: { accept: 'application/dicom+json' },
    });
    expect(res.status).toBe(200);
    const studies = (await res.json()) as Array<Record<string, { Value?: unknown[] }>>;
    expect(studies).toHaveLength(1);
    expect(studies[0]['0020000D'].Value).toEqual([instance.studyUid]);
  });

  it('removes its directory and stops the process', async () => {
    const other = await startOrthanc({ auth: { user: 'u', password: 'p' } });
    const unauth = await fetch(`${other.url}/system`);
    expect(unauth.status).toBe(401);
    await other.stop();
    await other.stop(); // idempotent
    expect(fs.existsSync(other.dir)).toBe(false);
    await expect(fetch(`${other.url}/system`)).rejects.toThrow();
  });

  it('fails with a clear error when Orthanc does not answer in time', async () => {
    await expect(startOrthanc({ dicomWeb: true, startTimeoutMs: 1 })).rejects.toThrow(
      /Orthanc did not answer GET .*\/system within 1 ms/,
    );
  });
});
