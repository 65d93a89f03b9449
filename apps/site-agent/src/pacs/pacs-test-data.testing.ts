import { type OrthancServer, writeTestInstance } from '@casam/dicom/testing';

/** Identifiers that must never appear in anything the agent logs or sends (the egress specs grep for them). */
export interface TestStudy {
  patientId: string;
  patientName: string;
  accessionNumber: string;
  studyUid: string;
  /** Series UID → its SOP instance UIDs. */
  series: Record<string, string[]>;
}

const ROOT = '1.2.826.0.1.3680043.10.1145.20';

/** A study of `seriesSizes.length` series with that many instances each, under a recognisable patient. */
export function testStudy(n: number, seriesSizes: number[]): TestStudy {
  const studyUid = `${ROOT}.${n}`;
  const series: Record<string, string[]> = {};
  seriesSizes.forEach((count, s) => {
    const seriesUid = `${studyUid}.${s + 1}`;
    series[seriesUid] = Array.from({ length: count }, (_, i) => `${seriesUid}.${i + 1}`);
  });
  return {
    patientId: `PACSPAT${n}X`,
    patientName: `Testpatient${n}^Privacy`,
    accessionNumber: `ACCN${n}Q`,
    studyUid,
    series,
  };
}

/** The instances of `study` as Part 10 files, in series order. */
export function studyInstances(
  study: TestStudy,
): Array<{ seriesUid: string; sopUid: string; bytes: Uint8Array }> {
  return Object.entries(study.series).flatMap(([seriesUid, sops]) =>
    sops.map((sopUid, i) => ({
      seriesUid,
      sopUid,
      bytes: writeTestInstance({
        patientId: study.patientId,
        patientName: study.patientName,
        accessionNumber: study.accessionNumber,
        studyUid: study.studyUid,
        seriesUid,
        sopUid,
        instanceNumber: i + 1,
        modality: 'CT',
      }),
    })),
  );
}

export async function loadStudy(orthanc: OrthancServer, study: TestStudy): Promise<void> {
  for (const { bytes } of studyInstances(study)) await orthanc.upload(bytes);
}

/** Every identifier of the studies: patient ID and name, accession number, every UID. */
export function identifiersOf(...studies: TestStudy[]): string[] {
  return studies.flatMap((s) => [
    s.patientId,
    s.patientName,
    s.patientName.split('^')[0],
    s.accessionNumber,
    s.studyUid,
    ...Object.keys(s.series),
    ...Object.values(s.series).flat(),
  ]);
}
