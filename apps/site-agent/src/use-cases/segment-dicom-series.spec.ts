import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type OrthancServer, startOrthanc, writeSyntheticSeries } from '@casam/dicom/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../cli/errors';
import { EgressLog, parseEgressLog } from '../egress/egress-log';
import { AgentHome } from '../home/agent-home';
import { dicomJsonString, TAG } from '../pacs/dicom-json';
import { DicomwebClient } from '../pacs/dicomweb-client';
import { writeRandomTinyModel } from '../testing/agent-cli.testing';
import { initHome, newAgentHome } from './init-home';
import { type DicomSeriesSegmentRequest, NoAgentHomeError, segmentDicomSeries } from './segment-dicom-series';

// Through the CLI with a coordinator, a bundle and dciodvfy: e2e/src/dicom-pacs.spec.ts. Here the use case alone,
// in-process on TF.js with a random casam-tiny and no bundle (every slice goes to frozen SAM), on a tiny series.
describe('segmentDicomSeries against a real Orthanc', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casam-segment-series-'));
  let orthanc: OrthancServer;
  let home: AgentHome;
  let studyUid: string;
  let seriesUid: string;
  const request = (o: Partial<DicomSeriesSegmentRequest>): DicomSeriesSegmentRequest => ({
    source: { kind: 'pacs', pacs: { url: orthanc.dicomWebUrl, timeoutMs: 20_000 }, seriesUid },
    box: [4, 4, 27, 27],
    points: [],
    multimask: false,
    window: 'auto',
    engine: 'tfjs',
    ...o,
  });

  beforeAll(async () => {
    orthanc = await startOrthanc({ dicomWeb: true });
    const ct = await writeSyntheticSeries(join(dir, 'ct'), {
      modality: 'CT',
      slices: 2,
      rows: 32,
      cols: 32,
      patientId: 'SEGSERIES42',
      patientName: 'Series^Segment',
      seed: 5,
    });
    for (const f of ct.files) await orthanc.upload(readFileSync(f));
    studyUid = ct.studyInstanceUid;
    seriesUid = ct.seriesInstanceUid;
    const weights = join(dir, 'tiny.safetensors');
    writeRandomTinyModel(weights);
    home = newAgentHome(join(dir, 'home'), { force: false, preset: 'casam-tiny' });
    await initHome(home, {
      coordinatorUrl: 'http://127.0.0.1:9',
      siteName: 'Series site',
      preset: 'casam-tiny',
      weights,
      backend: 'wasm',
      serve: { host: '127.0.0.1', port: 8787 },
      pacs: [orthanc.dicomWebUrl],
      log: () => undefined,
    });
  }, 120_000);
  afterAll(async () => {
    await orthanc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pulls the series, writes a PNG per slice and the DICOM-SEG, and stores the SEG in the PACS', async () => {
    const out = join(dir, 'masks');
    const segOut = join(dir, 'seg.dcm');
    const lines: string[] = [];
    const r = await segmentDicomSeries(
      home,
      request({ out, segOut, stow: { url: orthanc.dicomWebUrl, timeoutMs: 20_000 } }),
      (l) => lines.push(l),
    );
    expect(r.results.map((x) => [x.index, x.decision.decision])).toEqual([
      [0, 'fallback'],
      [1, 'fallback'],
    ]);
    expect(readdirSync(out).sort()).toEqual(['slice-0001.png', 'slice-0002.png']);
    expect(new Uint8Array(readFileSync(segOut))).toEqual(r.seg);
    expect(lines).toContain('pulled the series: 2 instance(s) fetched, 0 already here');
    expect(lines.slice(-3)).toEqual([
      `mask(s) → ${out}`,
      `DICOM-SEG (2 slice(s)) → ${segOut}`,
      'DICOM-SEG stored in the PACS (STOW-RS)',
    ]);
    const client = new DicomwebClient({
      url: orthanc.dicomWebUrl,
      log: new EgressLog(join(dir, 'probe.log')),
    });
    const segs = await client.searchSeries({ Modality: 'SEG' }, studyUid);
    expect(segs.map((s) => dicomJsonString(s, TAG.seriesUid))).toHaveLength(1);
    const egress = parseEgressLog(readFileSync(home.egressLogFile, 'utf8'));
    expect(egress.filter((e) => e.type === 'pacs_stow').map((e) => e.outcome)).toEqual(['200']);
  }, 300_000);

  it('refuses a STOW-RS target not listed in agent.json before segmenting, and needs an agent home', async () => {
    const out = join(dir, 'refused.png');
    const refused = await segmentDicomSeries(
      home,
      request({ out, stow: { url: 'http://127.0.0.1:9/dicom-web', timeoutMs: 1000 } }),
      () => undefined,
    ).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UserError);
    expect((refused as UserError).exitCode).toBe(2);
    expect((refused as Error).message).toMatch(/is not a PACS this agent may use/);
    expect(existsSync(out)).toBe(false);

    const none = await segmentDicomSeries(
      new AgentHome(join(dir, 'nowhere')),
      request({ out }),
      () => undefined,
    )
      .then(() => null)
      .catch((e: unknown) => e);
    expect(none).toBeInstanceOf(NoAgentHomeError);
    expect((none as UserError).exitCode).toBe(2);
  }, 120_000);
});
