import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { NiftiPair } from '@casam/casam-core';
import { WINDOW_PRESETS, type WindowChoice, isWindowPreset } from '@casam/dicom';
import { EXIT, UserError } from '../cli/errors';
import { checkTaskName } from '../tasks/local-task';
import { type IngestSource, ingestTask } from '../use-cases/ingest-task';
import type { Command } from './command';
import { HOME_HELP, HOME_OPTION } from './home-option';
import { PACS_HELP, PACS_OPTIONS, pacsFlags } from './pacs-options';
import { AgentHome } from '../home/agent-home';

export const ingestCommand: Command = {
  name: 'ingest',
  summary:
    'validate and index local images + masks (folders, NIfTI or DICOM) for a task; reproducible splits',
  usage: `site-agent ingest --task <name> (--folder <dir> | --nifti <image.nii[.gz]:labels.nii[.gz]> ... | --dicom <dir>
                  | --pacs <DICOMweb URL> (--study <uid> | --series <uid> | --query Key=value,...))
                  [--modality <m>] [--labels 1=liver,2=tumor] [--axis 0|1|2] [--window <w>] [--seed <n>] [--home <dir>]
  --folder <dir>            a dataset folder (manifest.json, or images/ + masks/<class>/; see docs/data-format.md)
  --nifti <img:lbl>         an image volume and its label volume, sliced to 2-D (repeatable; resumable)
  --dicom <dir>             CT/MR series (single- or multi-frame files, any depth) with their masks as DICOM-SEG
                            or RTSTRUCT; slices ordered by geometry; resumable
  --pacs <url>              pull CT/MR series and their SEG/RTSTRUCT from the hospital PACS over DICOMweb
                            (QIDO-RS + WADO-RS, resumable, into the task's folder), then read them as --dicom
  --study/--series <uid>    what to pull: every series of a study, or one series (with the study's SEG and
                            RTSTRUCT series that reference it)
  --query Key=value,...     QIDO-RS series query, e.g. Modality=CT,SeriesDescription=*LIVER* (with --study: in it)
  --window <w>              DICOM gray levels: auto (the files' VOI window, else 1st–99th percentile; default),
                            ${Object.keys(WINDOW_PRESETS).join(', ')}
  --modality <m>            imaging modality (CT, MR, US, endoscopy, …); default from the manifest or "unknown"
  --labels v=name,…         NIfTI label values to keep and their class names
  --axis 0|1|2              NIfTI slicing axis (default 2, axial)
  --seed <n>                split seed for data without a manifest (default 0)
Problems are reported per file (unreadable, size mismatch, empty mask…) and the rest is still indexed.
${PACS_HELP}
${HOME_HELP}`,
  options: {
    ...HOME_OPTION,
    task: { type: 'string' },
    folder: { type: 'string' },
    nifti: { type: 'string', multiple: true },
    modality: { type: 'string' },
    labels: { type: 'string' },
    axis: { type: 'string', default: '2' },
    dicom: { type: 'string' },
    pacs: { type: 'string' },
    study: { type: 'string' },
    series: { type: 'string' },
    query: { type: 'string' },
    ...PACS_OPTIONS,
    window: { type: 'string', default: 'auto' },
    seed: { type: 'string', default: '0' },
  },
  async run(v, log) {
    const home = new AgentHome(v.string('home'));
    home.readConfig();
    const name = checkTaskName(v.string('task', true));
    const folder = v.string('folder');
    const nifti = v.strings('nifti');
    const dicom = v.string('dicom');
    const pacs = v.string('pacs');
    if ([!!folder, nifti.length > 0, !!dicom, !!pacs].filter(Boolean).length !== 1)
      throw new UserError(
        'give one of --folder <dir>, --nifti <img:lbl> (one or more), --dicom <dir> or --pacs <url>',
        EXIT.usage,
      );
    const window = v.string('window')!;
    if (window !== 'auto' && !isWindowPreset(window))
      throw new UserError(
        `--window must be auto or one of ${Object.keys(WINDOW_PRESETS).join(', ')}; got "${window}"`,
        EXIT.usage,
      );
    const seed = Number(v.string('seed'));
    if (!Number.isInteger(seed)) throw new UserError('--seed must be an integer', EXIT.usage);
    let source: IngestSource;
    if (nifti.length) {
      const pairs: NiftiPair[] = nifti.map((p) => {
        const [image, labels, extra] = p.split(':');
        if (!image || !labels || extra !== undefined)
          throw new UserError(`--nifti wants <image>:<labels>, got "${p}"`, EXIT.usage);
        for (const f of [image, labels])
          if (!existsSync(f)) throw new UserError(`${f}: file not found`, EXIT.input);
        return { image: resolve(image), labels: resolve(labels) };
      });
      const labelNames = parseLabels(v.string('labels'));
      const axis = Number(v.string('axis'));
      if (![0, 1, 2].includes(axis)) throw new UserError('--axis must be 0, 1 or 2', EXIT.usage);
      source = { kind: 'nifti', pairs, given: nifti, labelNames, axis: axis as 0 | 1 | 2 };
    } else if (dicom) {
      source = { kind: 'dicom', folder: dicom, window: window as WindowChoice };
    } else if (pacs) {
      const study = v.string('study');
      const series = v.string('series');
      const query = parseQuery(v.string('query'));
      if (!study && !series && !query)
        throw new UserError(
          '--pacs wants what to pull: --study <uid>, --series <uid> or --query Key=value,...',
          EXIT.usage,
        );
      const flags = pacsFlags(v, pacs, '--pacs');
      source = {
        kind: 'pacs',
        url: pacs,
        ...(study ? { study } : {}),
        ...(series ? { series } : {}),
        ...(query ? { query } : {}),
        ...flags,
        window: window as WindowChoice,
      };
    } else source = { kind: 'folder', folder: folder! };
    const { index, counts } = await ingestTask({
      home,
      name,
      source,
      modality: v.string('modality'),
      seed,
      log,
    });
    console.log(
      `task ${name}: ${index.items.length} usable item(s) — train ${counts.train}, val ${counts.val}, test ${counts.test}; ` +
        `${index.classes.length} class(es) ${index.classes.map((c) => c.name).join(', ')}; ${counts.problems} problem(s)`,
    );
  },
};

/** `Modality=CT,SeriesDescription=*LIVER*` → a QIDO-RS query (keys are DICOM keywords or tags). */
function parseQuery(s: string | undefined): Record<string, string> | undefined {
  if (!s) return undefined;
  const out: Record<string, string> = {};
  for (const part of s.split(',')) {
    const m = /^([A-Za-z][A-Za-z0-9]*|[0-9A-Fa-f]{8})=(.*)$/.exec(part.trim());
    if (!m) throw new UserError(`--query wants Key=value pairs like Modality=CT; got "${part}"`, EXIT.usage);
    out[m[1]] = m[2];
  }
  return out;
}

function parseLabels(s: string | undefined): Record<number, string> | undefined {
  if (!s) return undefined;
  const out: Record<number, string> = {};
  for (const part of s.split(',')) {
    const m = /^(\d+)=([A-Za-z0-9][A-Za-z0-9._-]*)$/.exec(part.trim());
    if (!m)
      throw new UserError(`--labels wants value=name pairs like 1=liver,2=tumor; got "${part}"`, EXIT.usage);
    out[Number(m[1])] = m[2];
  }
  return out;
}
