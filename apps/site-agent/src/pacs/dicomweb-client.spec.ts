import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type OrthancServer,
  startOrthanc,
  writeSyntheticSeries,
  writeTestInstance,
} from '@casam/dicom/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EgressLog, parseEgressLog } from '../egress/egress-log';
import { dicomJsonString, TAG } from './dicom-json';
import { DicomwebClient, EXPLICIT_VR_LITTLE_ENDIAN } from './dicomweb-client';
import { buildMultipartRelated } from './multipart-related';
import { PacsError } from './pacs-error';
import { identifiersOf, loadStudy, testStudy } from './pacs-test-data.testing';

const studyA = testStudy(1, [3, 2]);
const studyB = testStudy(2, [1]);
const [seriesA1, seriesA2] = Object.keys(studyA.series);

describe('DicomwebClient against a real Orthanc', () => {
  let orthanc: OrthancServer;
  let log: EgressLog;
  let client: DicomwebClient;
  /** Identifiers of data loaded inside a test, for the egress check at the end. */
  const moreIds: string[] = [];
  beforeAll(async () => {
    orthanc = await startOrthanc({ dicomWeb: true });
    await loadStudy(orthanc, studyA);
    await loadStudy(orthanc, studyB);
    log = new EgressLog(join(mkdtempSync(join(tmpdir(), 'pacs-client-')), 'egress.log'));
    client = new DicomwebClient({ url: orthanc.dicomWebUrl, log, timeoutMs: 20_000 });
  });
  afterAll(async () => {
    await orthanc?.stop();
  });

  it('searches studies by patient, the series of a study and the instances of a series (QIDO-RS)', async () => {
    const studies = await client.searchStudies({ PatientID: studyA.patientId });
    expect(studies.map((s) => dicomJsonString(s, TAG.studyUid))).toEqual([studyA.studyUid]);
    const series = await client.searchSeries({}, studyA.studyUid);
    expect(series.map((s) => dicomJsonString(s, TAG.seriesUid)).sort()).toEqual([seriesA1, seriesA2].sort());
    const instances = await client.searchInstances(studyA.studyUid, seriesA1);
    expect(instances.map((i) => dicomJsonString(i, TAG.sopUid)).sort()).toEqual(
      [...studyA.series[seriesA1]].sort(),
    );
    expect(await client.searchStudies({ PatientID: 'NOBODY' })).toEqual([]);
  });

  it('retrieves an instance as a Part 10 file in explicit VR little endian (WADO-RS)', async () => {
    const sop = studyA.series[seriesA2][1];
    const bytes = await client.retrieveInstance(studyA.studyUid, seriesA2, sop);
    expect(Buffer.from(bytes.subarray(128, 132)).toString('latin1')).toBe('DICM');
    const text = Buffer.from(bytes).toString('latin1');
    expect(text).toContain(sop);
    expect(text).toContain('1.2.840.10008.1.2.1');
    const series = await client.retrieveSeries(studyA.studyUid, seriesA1);
    expect(series).toHaveLength(3);
  });

  it('stores an instance (STOW-RS) and finds it again, and says clearly when the PACS refuses one', async () => {
    const study = testStudy(3, [1]);
    const [seriesUid] = Object.keys(study.series);
    const sopUid = study.series[seriesUid][0];
    const bytes = writeTestInstance({ ...study, seriesUid, sopUid });
    const result = await client.store([bytes]);
    expect(result.stored).toEqual([sopUid]);
    const found = await client.searchInstances(study.studyUid, seriesUid);
    expect(found.map((i) => dicomJsonString(i, TAG.sopUid))).toEqual([sopUid]);

    const err = await client.store([new TextEncoder().encode('not a DICOM file')]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PacsError);
    expect((err as PacsError).message).toMatch(/refused 1 of 1 instances/);
    expect((err as PacsError).status).toBe(400);

    // An instance of another study, stored under this one: the PACS lists it in the failed SOP sequence.
    const wrong = await client.store([bytes], studyA.studyUid).catch((e: unknown) => e);
    expect((wrong as PacsError).status).toBe(409);
    expect((wrong as PacsError).message).toMatch(
      /refused 1 of 1 instances \(failure reason 0x0110 processing failure; sha:[0-9a-f]{12}\)$/,
    );
    expect((wrong as PacsError).message).not.toContain(sopUid);
  });

  it('asks the PACS to decompress (explicit VR little endian), or takes what it stores with *', async () => {
    const rle = await writeSyntheticSeries(mkdtempSync(join(tmpdir(), 'pacs-rle-')), {
      modality: 'CT',
      slices: 2,
      rows: 16,
      cols: 16,
      transferSyntax: 'rle',
      patientId: 'RLEPAT1',
      patientName: 'Rle^Compressed',
      seed: 20,
    });
    for (const file of rle.files) await orthanc.upload(readFileSync(file));
    moreIds.push(rle.studyInstanceUid, rle.seriesInstanceUid, ...rle.slices.map((x) => x.sopInstanceUid));
    const [study, series, sop] = [rle.studyInstanceUid, rle.seriesInstanceUid, rle.slices[0].sopInstanceUid];
    expect(transferSyntaxOf(readFileSync(rle.slices[0].file))).toBe(RLE_LOSSLESS);
    expect(transferSyntaxOf(await client.retrieveInstance(study, series, sop))).toBe(
      EXPLICIT_VR_LITTLE_ENDIAN,
    );
    const asStored = new DicomwebClient({ url: orthanc.dicomWebUrl, log, transferSyntax: '*' });
    expect(transferSyntaxOf(await asStored.retrieveInstance(study, series, sop))).toBe(RLE_LOSSLESS);
  });

  it('goes through the hospital proxy the environment names, and directly when NO_PROXY lists the PACS', async () => {
    const connects: string[] = [];
    const proxy = http.createServer((_q, res) => res.writeHead(405).end());
    proxy.on('connect', (req: http.IncomingMessage, down: net.Socket) => {
      connects.push(req.url ?? '');
      const [host, port] = (req.url ?? '').split(':');
      const up = net.connect(Number(port), host, () => {
        down.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        up.pipe(down).pipe(up);
      });
      up.on('error', () => down.destroy());
      down.on('error', () => up.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const HTTP_PROXY = `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
    try {
      const proxied = new DicomwebClient({ url: orthanc.dicomWebUrl, log, env: { HTTP_PROXY } });
      expect(await proxied.searchStudies({ PatientID: studyB.patientId })).toHaveLength(1);
      expect(connects).toEqual([`127.0.0.1:${orthanc.port}`]);
      const direct = new DicomwebClient({
        url: orthanc.dicomWebUrl,
        log,
        env: { HTTP_PROXY, NO_PROXY: '127.0.0.1' },
      });
      expect(await direct.searchStudies({ PatientID: studyB.patientId })).toHaveLength(1);
      expect(connects).toHaveLength(1);
    } finally {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });

  it('answers an unknown study with a 404 PacsError', async () => {
    const err = await client.retrieveSeries('1.2.3.4.5.404', '1.2.3.4.5.404.1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PacsError);
    expect((err as PacsError).status).toBe(404);
    expect((err as PacsError).message).toMatch(/404 Not Found: no such study/);
    expect((err as PacsError).message).not.toContain('1.2.3.4.5.404');
  });

  it('writes every request to the egress log without a patient or study identifier', () => {
    const text = readFileSync(log.file, 'utf8');
    const records = parseEgressLog(text);
    expect(new Set(records.map((r) => r.type))).toEqual(new Set(['pacs_qido', 'pacs_wado', 'pacs_stow']));
    expect(records.every((r) => r.target.startsWith(`${orthanc.url}/dicom-web/`))).toBe(true);
    expect(text).toContain('/studies?PatientID\t');
    for (const id of [
      ...identifiersOf(studyA, studyB, testStudy(3, [1])),
      '1.2.3.4.5.404',
      'RLEPAT1',
      'Rle^',
      ...moreIds,
    ]) {
      expect(text, `the egress log contains ${id}`).not.toContain(id);
    }
    expect(moreIds).toHaveLength(4);
  });
});

describe('DicomwebClient failures', () => {
  const log = () => new EgressLog(join(mkdtempSync(join(tmpdir(), 'pacs-fail-')), 'egress.log'));

  it('turns wrong credentials into a 401 PacsError and passes right ones', async () => {
    const orthanc = await startOrthanc({ dicomWeb: true, auth: { user: 'reader', password: 'right' } });
    try {
      const basic = (pw: string) => `Basic ${Buffer.from(`reader:${pw}`).toString('base64')}`;
      const wrong = new DicomwebClient({
        url: orthanc.dicomWebUrl,
        log: log(),
        authorization: basic('wrong'),
      });
      const err = await wrong.searchStudies().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PacsError);
      expect((err as PacsError).status).toBe(401);
      expect((err as PacsError).message).toMatch(/refused the credentials/);
      const right = new DicomwebClient({
        url: orthanc.dicomWebUrl,
        log: log(),
        authorization: basic('right'),
      });
      expect(await right.searchStudies()).toEqual([]);
    } finally {
      await orthanc.stop();
    }
  });

  it('gives up on a PACS that accepts the connection and never answers', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { port } = silent.address() as net.AddressInfo;
    const egress = log();
    try {
      const client = new DicomwebClient({
        url: `http://127.0.0.1:${port}/dicom-web`,
        log: egress,
        timeoutMs: 300,
      });
      const err = await client.searchStudies({ PatientName: 'Doe^Jane' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PacsError);
      expect((err as PacsError).status).toBe('timeout');
      expect((err as PacsError).message).toMatch(/no answer within 300 ms/);
      const [record] = parseEgressLog(readFileSync(egress.file, 'utf8'));
      expect(record).toMatchObject({ type: 'pacs_qido', outcome: 'failed: no answer within 300 ms' });
      expect(record.target).toBe(`http://127.0.0.1:${port}/dicom-web/studies?PatientName`);
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise((r) => silent.close(r));
    }
  });

  it('asks again for any transfer syntax when the PACS cannot transcode (406) and the fallback is on', async () => {
    // Orthanc transcodes everything it stores, so a PACS that cannot is a few lines of node:http.
    const accepts: string[] = [];
    const part10 = writeTestInstance({ ...studyA, seriesUid: seriesA1, sopUid: studyA.series[seriesA1][0] });
    const pacs = http.createServer((req, res) => {
      accepts.push(req.headers.accept ?? '');
      if (!req.headers.accept?.endsWith('transfer-syntax=*')) return void res.writeHead(406).end();
      const { body, contentType } = buildMultipartRelated([part10], 'application/dicom');
      res.writeHead(200, { 'content-type': contentType }).end(body);
    });
    await new Promise<void>((r) => pacs.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(pacs.address() as net.AddressInfo).port}/dicom-web`;
    try {
      const strict = new DicomwebClient({ url, log: log() });
      expect(
        await strict.retrieveInstance('1.2.3', '1.2.3.4', '1.2.3.4.5').catch((e: PacsError) => e.status),
      ).toBe(406);
      const lenient = new DicomwebClient({ url, log: log(), fallbackToAny: true });
      expect(await lenient.retrieveInstance('1.2.3', '1.2.3.4', '1.2.3.4.5')).toEqual(part10);
      expect(accepts.slice(1)).toEqual([
        `multipart/related; type="application/dicom"; transfer-syntax=${EXPLICIT_VR_LITTLE_ENDIAN}`,
        'multipart/related; type="application/dicom"; transfer-syntax=*',
      ]);
    } finally {
      await new Promise((r) => pacs.close(r));
    }
  });

  it('names a refused connection', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const { port } = closed.address() as net.AddressInfo;
    await new Promise((r) => closed.close(r));
    const client = new DicomwebClient({ url: `http://127.0.0.1:${port}/dicom-web`, log: log() });
    const err = await client.searchStudies().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PacsError);
    expect((err as PacsError).status).toBe('network');
    expect((err as PacsError).message).toMatch(/connection refused/);
  });
});

const RLE_LOSSLESS = '1.2.840.10008.1.2.5';

/** The Transfer Syntax UID (0002,0010) of a Part 10 file's meta header (always explicit VR little endian). */
function transferSyntaxOf(part10: Uint8Array): string {
  const b = Buffer.from(part10);
  for (let at = 132; at + 8 <= b.length;) {
    const [group, element, length] = [b.readUInt16LE(at), b.readUInt16LE(at + 2), b.readUInt16LE(at + 6)];
    if (group !== 0x0002) break;
    if (element === 0x0010) return b.toString('latin1', at + 8, at + 8 + length).replace(/\0$/, '');
    const vr = b.toString('latin1', at + 4, at + 6);
    at += ['OB', 'OW', 'SQ', 'UN', 'UT'].includes(vr) ? 12 + b.readUInt32LE(at + 8) : 8 + length;
  }
  throw new Error('no transfer syntax in the meta header');
}
