import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDicomSegFrames } from '@casam/dicom';
import {
  type OrthancServer,
  type SyntheticSeries,
  orthancAvailable,
  startOrthanc,
  writeSegFor,
  writeSyntheticSeries,
} from '@casam/dicom/testing';
import { type CoordinatorProcess, startCoordinatorProcess } from './support/coordinator-process';
import { clientTextFrames, RecordingProxy } from './support/recording-proxy';
import { QUICK_TRAIN_FLAGS } from './support/site-agent-cli';
import { agentRunner, enrollApprovedSite, uploadedAdapterId, writeTinyBaseModel } from './support/site-setup';

/** Every file under `dir`, concatenated as latin1 text: an identifier in any of them shows up in a search. */
function filesText(dir: string): string {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath, e.name)).toString('latin1'))
    .join('\n');
}

/**
 * A hospital as it is: studies live in a real PACS (Debian's Orthanc with its DICOMweb plugin). The site agent
 * pulls a CT and an MR study with their DICOM-SEG masks over DICOMweb, trains, uploads, gets the bundle,
 * segments the CT series and stores the result back as DICOM-SEG; the SEG read back from Orthanc matches the
 * PNG masks pixel for pixel and passes dciodvfy. All the while a recording proxy holds every byte the agent
 * sends to the coordinator: no patient or study identifier of the test data may be among them.
 */
describe.skipIf(!orthancAvailable())('DICOM and a real PACS: DICOMweb in, DICOM-SEG out', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-e2e-dicom-'));
  const home = join(dir, 'agent');
  const weights = join(dir, 'tiny.safetensors');
  const agent = agentRunner(home);
  let orthanc: OrthancServer;
  let coord: CoordinatorProcess;
  let proxy: RecordingProxy;
  let ct: SyntheticSeries;
  let mr: SyntheticSeries;
  const segOut = join(dir, 'result-seg.dcm');
  const pngDir = join(dir, 'result-png');

  beforeAll(async () => {
    writeTinyBaseModel(weights, 11);
    ct = await writeSyntheticSeries(join(dir, 'ct'), {
      modality: 'CT',
      slices: 16,
      rows: 64,
      cols: 64,
      patientId: 'CT-PATIENT-90210',
      patientName: 'Nordmann^Kari',
      seed: 21,
    });
    mr = await writeSyntheticSeries(join(dir, 'mr'), {
      modality: 'MR',
      slices: 16,
      rows: 64,
      cols: 64,
      multiFrame: true,
      patientId: 'MR-PATIENT-31337',
      patientName: 'Svensson^Sven',
      seed: 22,
    });
    const ctSeg = await writeSegFor(ct, [{ label: 'lesion', masks: ct.objectMasks }], { seed: 23 });
    const mrSeg = await writeSegFor(mr, [{ label: 'lesion', masks: mr.objectMasks }], { seed: 24 });
    orthanc = await startOrthanc({ dicomWeb: true });
    for (const f of [...ct.files, ...mr.files, ctSeg.file, mrSeg.file]) await orthanc.upload(readFileSync(f));
    coord = await startCoordinatorProcess();
    proxy = new RecordingProxy(coord.url);
    const proxyUrl = await proxy.start();
    await enrollApprovedSite(coord, home, agent, { coordinatorUrl: proxyUrl, siteName: 'Ullevål', weights });
    // Hospital IT lists the PACS the agent may use (agent.json pacs.allowed).
    await agent([
      'init',
      '--force',
      '--coordinator',
      proxyUrl,
      '--site-name',
      'Ullevål',
      '--preset',
      'casam-tiny',
      '--weights',
      weights,
      '--pacs',
      orthanc.dicomWebUrl,
    ]);
  }, 180_000);

  afterAll(async () => {
    await proxy?.close();
    await coord?.stop();
    await orthanc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ingests a CT and an MR study over DICOMweb, with their DICOM-SEG masks', async () => {
    const c = await agent([
      'ingest',
      '--task',
      'ct-lesion',
      '--pacs',
      orthanc.dicomWebUrl,
      '--study',
      ct.studyInstanceUid,
      '--window',
      'ct-abdomen',
    ]);
    expect(c.stdout).toMatch(/task ct-lesion: 16 usable item\(s\).*1 class\(es\) lesion/);
    expect(c.stderr).toMatch(/pulled 2 series from the PACS: 17 instance\(s\) fetched/);
    const m = await agent([
      'ingest',
      '--task',
      'mr-lesion',
      '--pacs',
      orthanc.dicomWebUrl,
      '--study',
      mr.studyInstanceUid,
      '--modality',
      'MR',
    ]);
    expect(m.stdout).toMatch(/task mr-lesion: 16 usable item\(s\).*1 class\(es\) lesion/);
    // Pulling again fetches nothing: every instance is already on disk.
    const again = await agent([
      'ingest',
      '--task',
      'ct-lesion',
      '--pacs',
      orthanc.dicomWebUrl,
      '--study',
      ct.studyInstanceUid,
      '--window',
      'ct-abdomen',
    ]);
    expect(again.stderr).toMatch(/0 instance\(s\) fetched, 17 already here/);
  });

  it('trains, uploads and installs both tasks through the coordinator', async () => {
    for (const task of ['ct-lesion', 'mr-lesion']) {
      const taskId = /as ([0-9a-f-]{36})/.exec((await agent(['propose', '--task', task])).stdout)![1];
      await coord.admin('POST', `/api/v1/tasks/${taskId}/approve`);
      await agent(['train', '--task', task, ...QUICK_TRAIN_FLAGS]);
      await agent(['upload', '--task', task, '--chunk-size', '65536', '--force']);
      await coord.admin('POST', `/api/v1/adapters/${uploadedAdapterId(home, task)}/approve`);
    }
    expect((await agent(['pull'])).stdout).toMatch(/installed bundle \d+ \(2 task\(s\)/);
  });

  it('segments the CT series from the PACS and stores DICOM-SEG there that matches the PNG masks pixel for pixel', async () => {
    const box = '16,16,47,47';
    const r = await agent([
      'segment',
      '--pacs',
      orthanc.dicomWebUrl,
      '--series-uid',
      ct.seriesInstanceUid,
      '--box',
      box,
      '--out',
      pngDir,
      '--seg-out',
      segOut,
      '--stow',
      orthanc.dicomWebUrl,
      '--json',
    ]);
    const decisions = JSON.parse(r.stdout) as { slice: number; decision: string }[];
    expect(decisions.map((d) => d.slice)).toEqual(ct.slices.map((_, k) => k + 1));
    expect(r.stderr).toMatch(/pulled the series: 16 instance\(s\) fetched/);
    expect(r.stderr).toMatch(/DICOM-SEG stored in the PACS/);

    // Find the stored SEG in Orthanc by its SOP instance UID and read it back as the PACS has it.
    const local = readDicomSegFrames(new Uint8Array(readFileSync(segOut)));
    const sopUid = local.dataset.SOPInstanceUID as string;
    const found = (await (
      await fetch(`${orthanc.url}/tools/find`, {
        method: 'POST',
        body: JSON.stringify({ Level: 'Instance', Query: { SOPInstanceUID: sopUid } }),
      })
    ).json()) as string[];
    expect(found).toHaveLength(1);
    const stored = new Uint8Array(
      await (await fetch(`${orthanc.url}/instances/${found[0]}/file`)).arrayBuffer(),
    );
    const seg = readDicomSegFrames(stored);
    expect(seg.dataset.StudyInstanceUID).toBe(ct.studyInstanceUid);
    expect(seg.segments.map((s) => s.label)).toContain('lesion');
    expect(
      seg.segments.every((s) =>
        /^CA-SAM (ct-lesion|mr-lesion|frozen SAM) .*base casam-tiny@[0-9a-f]{8}/.test(s.algorithmName ?? ''),
      ),
    ).toBe(true);

    // Pixel for pixel: each slice's PNG equals the union of the SEG frames that reference that slice.
    ct.slices.forEach((slice, k) => {
      const png = PNG.sync.read(readFileSync(join(pngDir, `slice-${String(k + 1).padStart(4, '0')}.png`)));
      const fromSeg = new Uint8Array(ct.rows * ct.cols);
      for (const f of seg.frames.filter((x) => x.referencedSopInstanceUid === slice.sopInstanceUid))
        f.mask.forEach((v, i) => (fromSeg[i] |= v));
      let diff = 0;
      for (let p = 0; p < fromSeg.length; p++) if ((png.data[p * 4] > 127 ? 1 : 0) !== fromSeg[p]) diff++;
      expect(diff, `slice ${k + 1}`).toBe(0);
    });

    // The DICOM validator of dicom3tools, when installed (CI installs it), finds no error in what the PACS holds.
    try {
      execFileSync('which', ['dciodvfy'], { stdio: 'ignore' });
    } catch {
      return;
    }
    writeFileSync(join(dir, 'stored-seg.dcm'), stored);
    let report = '';
    try {
      report = execFileSync('dciodvfy', [join(dir, 'stored-seg.dcm')], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      report = `${(e as { stdout?: string }).stdout ?? ''}${(e as { stderr?: string }).stderr ?? ''}`;
    }
    expect(report.split('\n').filter((l) => l.startsWith('Error'))).toEqual([]);
  });

  it('sends no patient or study identifier of the test data to the coordinator, its logs or the egress log', () => {
    const identifiers = [
      'CT-PATIENT-90210',
      'Nordmann^Kari',
      'MR-PATIENT-31337',
      'Svensson^Sven',
      ...[ct, mr].flatMap((s) => [
        s.studyInstanceUid,
        s.seriesInstanceUid,
        s.frameOfReferenceUid,
        ...s.slices.map((x) => x.sopInstanceUid),
      ]),
      // Patient and referring-physician names, birth date (dates and times of day are too common to search).
      ...[ct, mr].flatMap((s) =>
        ['PatientName', 'PatientID', 'PatientBirthDate', 'ReferringPhysicianName'].map(
          (k) => s.identityTags[k],
        ),
      ),
    ];
    const wire = [
      ...proxy.requests.map((q) => `${q.url}\n${q.body.toString('latin1')}`),
      ...proxy.sockets.map((s) => clientTextFrames(s.clientBytes).join('\n')),
    ].join('\n');
    expect(proxy.requests.length).toBeGreaterThan(10);
    const places = {
      'the wire to the coordinator': wire,
      "the coordinator's log": coord.log(),
      "the coordinator's data": filesText(coord.dataDir),
      'the egress log': readFileSync(join(home, 'egress.log'), 'utf8'),
    };
    for (const [where, text] of Object.entries(places))
      for (const id of identifiers) expect(text.includes(id), `${id} in ${where}`).toBe(false);
    // The PACS traffic is in the egress log, as pseudonyms.
    expect(places['the egress log']).toMatch(/pacs_wado\tGET\t.*sha:[0-9a-f]{12}/);
    expect(places['the egress log']).toMatch(/pacs_stow\tPOST/);
  });
});
