import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parsePart10, readDicomFolder } from '@casam/dicom';
import {
  type OrthancServer,
  ellipseContours,
  startOrthanc,
  writeRtstructFor,
  writeSyntheticStudy,
} from '@casam/dicom/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EgressLog, parseEgressLog } from '../egress/egress-log';
import { PacsError } from './pacs-error';
import { uidFileName } from './pacs-log-target';
import { formatPullProgress, type PullOptions, pullFromPacs } from './pull-from-pacs';
import { identifiersOf, loadStudy, studyInstances, testStudy } from './pacs-test-data.testing';

const studyA = testStudy(11, [3, 2]);
const studyB = testStudy(12, [2]);
const studyC = testStudy(13, [3]);
const [seriesA1, seriesA2] = Object.keys(studyA.series);

describe('pullFromPacs against a real Orthanc', () => {
  let orthanc: OrthancServer;
  const work = mkdtempSync(join(tmpdir(), 'pacs-pull-'));
  const logFile = join(work, 'egress.log');
  const log = new EgressLog(logFile);
  let n = 0;
  const pull = (o: Partial<PullOptions>) =>
    pullFromPacs({
      pacsUrl: orthanc.dicomWebUrl,
      dest: join(work, `dest-${++n}`),
      log,
      timeoutMs: 20_000,
      ...o,
    });
  const wadoCount = () =>
    parseEgressLog(readFileSync(logFile, 'utf8')).filter((r) => r.type === 'pacs_wado').length;

  beforeAll(async () => {
    orthanc = await startOrthanc({ dicomWeb: true });
    await loadStudy(orthanc, studyA);
    await loadStudy(orthanc, studyB);
  });
  afterAll(async () => {
    await orthanc?.stop();
  });

  it('pulls every instance of a study into pseudonymous folders, with progress, and a second pull fetches none', async () => {
    const lines: string[] = [];
    const dest = join(work, 'study-a');
    const first = await pull({
      study: studyA.studyUid,
      dest,
      onProgress: (p) => {
        lines.push(formatPullProgress(p));
      },
    });
    expect(first).toMatchObject({ series: 2, instances: 5, fetched: 5, skipped: 0, problems: [] });
    expect(first.seriesDirs.map((d) => d.slice(dest.length + 1)).sort()).toEqual(
      [uidFileName(seriesA1), uidFileName(seriesA2)].sort(),
    );
    expect(readdirSync(join(dest, uidFileName(seriesA1))).sort()).toEqual(
      studyA.series[seriesA1].map((sop) => `${uidFileName(sop)}.dcm`).sort(),
    );
    const onDisk = readFileSync(
      join(dest, uidFileName(seriesA2), `${uidFileName(studyA.series[seriesA2][0])}.dcm`),
    );
    expect(onDisk.subarray(128, 132).toString('latin1')).toBe('DICM');
    expect(lines[0]).toBe('series 1/2: 0/3 instances, 0.0 MB');
    expect(lines.at(-1)).toMatch(/^series 2\/2: 2\/2 instances, \d+\.\d MB$/);

    const before = wadoCount();
    const second = await pull({ study: studyA.studyUid, dest });
    expect(second).toMatchObject({ series: 2, instances: 5, fetched: 0, skipped: 5, bytes: first.bytes });
    expect(wadoCount()).toBe(before);
  });

  it('resumes a pull killed half-way without fetching any instance twice', async () => {
    const dest = join(work, 'killed');
    const before = wadoCount();
    let seen = 0;
    const killed = await pull({
      study: studyA.studyUid,
      dest,
      onProgress: (p) => {
        if (p.done > 0 && ++seen === 2) throw new Error('killed');
      },
    }).catch((e: unknown) => e);
    expect((killed as Error).message).toBe('killed');
    expect(wadoCount() - before).toBe(2);
    // What a kill during a write leaves behind: a temporary file, which the resume removes.
    const leftover = join(
      dest,
      uidFileName(seriesA1),
      `${uidFileName(studyA.series[seriesA1][2])}.dcm.tmp-99-1`,
    );
    writeFileSync(leftover, 'half a file');

    const resumed = await pull({ study: studyA.studyUid, dest });
    expect(resumed).toMatchObject({ instances: 5, fetched: 3, skipped: 2, problems: [] });
    expect(wadoCount() - before).toBe(5);
    expect(existsSync(leftover)).toBe(false);
  });

  it('selects one series by its UID alone, or the series matching a query', async () => {
    const bySeries = await pull({ series: seriesA2 });
    expect(bySeries).toMatchObject({ series: 1, instances: 2, fetched: 2 });
    const paged = await pull({ series: seriesA1, pageSize: 2 });
    expect(paged).toMatchObject({ series: 1, instances: 3, fetched: 3 });
    const listed = parseEgressLog(readFileSync(logFile, 'utf8')).filter(
      (r) =>
        r.target.endsWith('/instances?limit=2&offset=0') || r.target.endsWith('/instances?limit=2&offset=2'),
    );
    expect(listed).toHaveLength(2);
    const byQuery = await pull({ query: { PatientID: studyB.patientId } });
    expect(byQuery).toMatchObject({ series: 1, instances: 2, fetched: 2 });
    expect(await pull({ query: { PatientID: 'NOBODY' } })).toMatchObject({ series: 0, instances: 0 });
  });

  it('fails an unknown study or series with a 404 PacsError that names no UID', async () => {
    for (const selection of [{ study: '1.2.3.404' }, { series: '1.2.3.404.1' }]) {
      const err = await pull(selection).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PacsError);
      expect((err as PacsError).status).toBe(404);
      expect((err as PacsError).message).not.toContain('1.2.3.404');
    }
  });

  it('records an instance that vanished from the PACS as a problem and pulls the rest', async () => {
    const ids: string[] = [];
    for (const { bytes } of studyInstances(studyC)) ids.push((await orthanc.upload(bytes)).ID);
    const [seriesC] = Object.keys(studyC.series);
    const result = await pull({
      study: studyC.studyUid,
      onProgress: async (p) => {
        if (p.done === 0) await fetch(`${orthanc.url}/instances/${ids[1]}`, { method: 'DELETE' });
      },
    });
    expect(result).toMatchObject({ instances: 3, fetched: 2 });
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0].instance).toBe(`sha:${uidFileName(studyC.series[seriesC][1])}`);
    expect(result.problems[0].reason).toMatch(/404/);
  });

  it('pulls a series by UID with the SEG and RTSTRUCT of its study that reference it, not the masks of other series', async () => {
    const study = await writeSyntheticStudy(join(work, 'synthetic'), {
      patientId: 'MASKPAT77X',
      patientName: 'Maskpatient^Privacy',
      seed: 77,
      slices: 3,
      rows: 16,
      cols: 16,
    });
    const { ct, mr } = study;
    const rt = await writeRtstructFor(ct, ellipseContours(ct, 'kidney', 24));
    const rtBytes = new Uint8Array(readFileSync(rt.file));
    const rtSeries = String((await parsePart10(rtBytes, rt.file)).dataset.SeriesInstanceUID);
    for (const f of study.files) await orthanc.upload(new Uint8Array(readFileSync(f)));
    await orthanc.upload(rtBytes);

    const dest = join(work, 'with-masks');
    const r = await pull({ series: ct.seriesInstanceUid, dest });
    expect(r).toMatchObject({ series: 3, instances: 3 + 1 + 1, fetched: 5, problems: [] });
    expect(r.seriesDirs.map((d) => basename(d)).sort()).toEqual(
      [ct.seriesInstanceUid, study.ctSeg.seriesInstanceUid, rtSeries].map(uidFileName).sort(),
    );
    // What ingest then reads: the CT with both mask files attached, slice by slice.
    const read = await readDicomFolder(dest);
    expect(read.problems).toEqual([]);
    expect(read.series.map((x) => x.seriesInstanceUid)).toEqual([ct.seriesInstanceUid]);
    expect(read.series[0].classNames.sort()).toEqual(['kidney', 'lesion']);
    expect(read.series[0].slices.map((x) => Array.from(x.masks?.lesion ?? []))).toEqual(
      ct.objectMasks.map((m) => Array.from(m)),
    );

    // The MR gets its own SEG only; without masks, the series alone.
    const forMr = await pull({ series: mr.seriesInstanceUid });
    expect(forMr.seriesDirs.map((d) => basename(d)).sort()).toEqual(
      [mr.seriesInstanceUid, study.mrSeg.seriesInstanceUid].map(uidFileName).sort(),
    );
    expect(await pull({ series: ct.seriesInstanceUid, withMasks: false })).toMatchObject({
      series: 1,
      instances: 3,
    });
    const text = readFileSync(logFile, 'utf8');
    expect(text).toContain('/metadata\t');
    for (const id of ['MASKPAT77X', 'Maskpatient', study.studyInstanceUid, ct.seriesInstanceUid, rtSeries])
      expect(text, `the egress log contains ${id}`).not.toContain(id);
  });

  it('leaves no patient or study identifier in the egress log or the folder names', () => {
    const text = readFileSync(logFile, 'utf8');
    expect(text).toContain('pacs_wado');
    expect(text).toContain('/series?PatientID\t');
    const names = readdirSync(work, { recursive: true }).join('\n');
    for (const id of [...identifiersOf(studyA, studyB, studyC), '1.2.3.404']) {
      expect(text, `the egress log contains ${id}`).not.toContain(id);
      expect(names, `a file name contains ${id}`).not.toContain(id);
    }
  });
});

describe('formatPullProgress', () => {
  it('says where the pull is', () => {
    expect(
      formatPullProgress({ seriesIndex: 2, seriesCount: 3, done: 40, total: 120, bytes: 12_345_678 }),
    ).toBe('series 2/3: 40/120 instances, 12.3 MB');
  });
});
