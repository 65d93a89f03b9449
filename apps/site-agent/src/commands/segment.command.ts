import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeMaskPng } from '@casam/casam-core';
import { WINDOW_PRESETS, type WindowChoice, isWindowPreset, looksLikePart10 } from '@casam/dicom';
import { EgressLog } from '../egress/egress-log';
import { DicomwebClient } from '../pacs/dicomweb-client';
import { pacsUserError } from '../pacs/pacs-exit';
import { checkPacsAllowed } from '../pacs/pacs-allowlist';
import { formatPullProgress, pullFromPacs } from '../pacs/pull-from-pacs';
import { segmentDicom } from '../use-cases/segment-dicom';
import { PACS_HELP, PACS_OPTIONS, pacsFlags } from './pacs-options';
import { MODEL_HELP, MODEL_OPTIONS, modelFlags } from './model-options';
import { readImageFile } from './read-image';
import { parseBox, parsePoint, promptProblem } from '../cli/args';
import { EXIT, UserError } from '../cli/errors';
import { printableJson } from '../cli/printable';
import { Command, OptionValues } from './command';
import { AgentHome } from '../home/agent-home';
import { HOME_HELP, HOME_OPTION } from './home-option';
import { describeDecision, describeSeriesDecisions } from '../use-cases/routing-decision';
import { type SegmentRequest, segmentWithBundle, segmentWithModel } from '../use-cases/segment-image';

export const segmentCommand: Command = {
  name: 'segment',
  summary: 'segment an image or a DICOM series from a box and/or points; masks as PNG or DICOM-SEG',
  usage: `site-agent segment --image <file> (--box x0,y0,x1,y1 | --point x,y[,label] ...)... [--multimask]
                   --out <mask.png> [--logits-out <file.safetensors>] [model options]
       site-agent segment (--image <file.dcm> | --dicom <dir> | --pacs <url> --series-uid <uid>) [--slices a-b] [--window <w>]
                   (--box … | --point …) [--out <mask.png | dir>] [--seg-out <seg.dcm>] [--stow <DICOMweb URL>]
  --box x0,y0,x1,y1         box prompt (at most one): inclusive pixel indices of the object's top-left and
                            bottom-right pixels (a 1-pixel-wide object has x0 = x1; the whole image 0,0,W-1,H-1)
  --point x,y[,label]       point prompt; label 1 foreground (default), 0 background; repeatable
  --multimask               predict 3 candidate masks and keep the one with the best predicted IoU
  --out <mask.png>          binary mask (0/255) at the original image size
  --logits-out <file>       low_res_masks [1,K,h,w] and iou_predictions [1,K] as safetensors
  --json                    print the routing decision as JSON (for DICOM: one per slice)
DICOM (a file whose content is DICOM, or --dicom with a folder holding one series; needs an agent home):
  --series-uid <uid>        which series, when the folder holds several (with --pacs: the series to pull)
  --pacs <url>              pull the series from the PACS first (WADO-RS, into <home>/pacs-cache/, resumable)
  --slices a-b              1-based slices in geometric order to segment (default all); the prompt applies to each
  --window <w>              gray levels: auto (the files' VOI window, else percentiles; default), ${Object.keys(WINDOW_PRESETS).join(', ')}
  --out <file | dir>        PNG mask(s): a file for one slice, else a folder of slice-0001.png … (geometric order)
  --seg-out <file>          the masks as one DICOM-SEG referencing the source images (task, adapter, bundle and
                            base model named per segment)
  --stow <url>              store the DICOM-SEG in the PACS (STOW-RS), with the PACS options below
${PACS_HELP}
With an agent home (site-agent init) and no --checkpoint, the agent's base model and installed router bundle
are used: the image is routed to a task's Alignment Layer or falls back to frozen SAM, and the decision printed.
${HOME_HELP}
${MODEL_HELP}`,
  options: {
    ...MODEL_OPTIONS,
    image: { type: 'string' },
    out: { type: 'string' },
    box: { type: 'string', multiple: true },
    point: { type: 'string', multiple: true },
    multimask: { type: 'boolean', default: false },
    'logits-out': { type: 'string' },
    json: { type: 'boolean', default: false },
    dicom: { type: 'string' },
    'series-uid': { type: 'string' },
    pacs: { type: 'string' },
    slices: { type: 'string' },
    window: { type: 'string', default: 'auto' },
    'seg-out': { type: 'string' },
    stow: { type: 'string' },
    ...PACS_OPTIONS,
    ...HOME_OPTION,
  },
  async run(v, log) {
    const pacs = v.string('pacs');
    if (pacs) return segmentDicomCommand(v, await pullSeriesToSegment(v, pacs, log), log);
    const dicom = v.string('dicom') ?? dicomImage(v.string('image'));
    if (dicom) return segmentDicomCommand(v, dicom, log);
    const image = v.string('image', true);
    const out = v.string('out', true);
    const boxes = v.strings('box').map(parseBox);
    const points = v.strings('point').map(parsePoint);
    if (boxes.length > 1) throw new UserError('give at most one --box per image', EXIT.usage);
    if (!boxes.length && !points.length)
      throw new UserError('give a prompt: --box x0,y0,x1,y1 and/or --point x,y[,label]', EXIT.usage);
    const img = readImageFile(image);
    const problem = promptProblem({ box: boxes[0], points: points.map((p) => p.xy) }, img.width, img.height);
    if (problem) throw new UserError(`${image}: ${problem}`, EXIT.input);
    const request: SegmentRequest = {
      image: img,
      imagePath: image,
      box: boxes[0],
      points,
      multimask: v.bool('multimask'),
    };
    const home = new AgentHome(v.string('home'));
    if (!v.string('checkpoint') && !v.string('encoder-onnx') && home.exists()) {
      const r = await segmentWithBundle(home, request, log, modelFlags(v).engine);
      writeOutput(out, r.maskPng);
      console.log(v.bool('json') ? printableJson(r.decision) : describeDecision(r.decision));
      log(`mask → ${out}`);
      return;
    }
    const m = modelFlags(v);
    const logitsOut = v.string('logits-out');
    const r = await segmentWithModel(m.engine, m.files, { ...request, withLogits: !!logitsOut }, log);
    writeOutput(out, r.maskPng);
    if (logitsOut) writeOutput(logitsOut, r.logits!);
    const fg = r.foregroundPixels;
    log(
      `mask ${img.width}×${img.height} → ${out}: ${fg} foreground px (${((100 * fg) / (img.width * img.height)).toFixed(1)}%), ` +
        `predicted IoU ${r.predictedIou.toFixed(3)}${r.candidates > 1 ? ` (best of ${r.candidates})` : ''}`,
    );
  },
};

/** The `--image` path when its content is DICOM Part 10 (whatever its name), else undefined. */
function dicomImage(image: string | undefined): string | undefined {
  if (!image || !existsSync(image) || statSync(image).isDirectory()) return undefined;
  const fd = openSync(image, 'r');
  try {
    const head = new Uint8Array(132);
    readSync(fd, head, 0, 132, 0);
    return looksLikePart10(head) ? image : undefined;
  } finally {
    closeSync(fd);
  }
}

async function segmentDicomCommand(v: OptionValues, path: string, log: (l: string) => void): Promise<void> {
  const out = v.string('out');
  const segOut = v.string('seg-out');
  const stow = v.string('stow');
  if (!out && !segOut && !stow)
    throw new UserError(
      'say where the result goes: --out <png | dir>, --seg-out <seg.dcm> and/or --stow <url>',
      EXIT.usage,
    );
  const boxes = v.strings('box').map(parseBox);
  const points = v.strings('point').map(parsePoint);
  if (boxes.length > 1) throw new UserError('give at most one --box (it applies to every slice)', EXIT.usage);
  if (!boxes.length && !points.length)
    throw new UserError('give a prompt: --box x0,y0,x1,y1 and/or --point x,y[,label]', EXIT.usage);
  const window = v.string('window')!;
  if (window !== 'auto' && !isWindowPreset(window))
    throw new UserError(
      `--window must be auto or one of ${Object.keys(WINDOW_PRESETS).join(', ')}; got "${window}"`,
      EXIT.usage,
    );
  const pacs = stow ? pacsFlags(v, stow, '--stow') : undefined;
  const home = new AgentHome(v.string('home'));
  if (!home.exists())
    throw new UserError(
      `DICOM segmentation runs in an agent home (site-agent init); none at ${home.dir}`,
      EXIT.usage,
    );
  // Refused before any work: the SEG carries the patient's identity and may go only to a listed PACS.
  if (stow) checkPacsAllowed(home.readConfig(), stow, 'pacs_stow', new EgressLog(home.egressLogFile));
  const r = await segmentDicom(
    home,
    {
      path,
      seriesUid: v.string('series-uid'),
      box: boxes[0],
      points,
      multimask: v.bool('multimask'),
      slices: parseSlices(v.string('slices')),
      window: window as WindowChoice,
      promptCheck: (w, h) => promptProblem({ box: boxes[0], points: points.map((p) => p.xy) }, w, h),
    },
    log,
    modelFlags(v).engine,
  );
  if (out) {
    if (r.results.length === 1)
      writeOutput(out, encodeMaskPng(r.results[0].mask, r.series.slices[0].width, r.series.slices[0].height));
    else {
      mkdirSync(out, { recursive: true });
      for (const x of r.results) {
        const s = r.series.slices[x.index];
        writeOutput(
          join(out, `slice-${String(x.index + 1).padStart(4, '0')}.png`),
          encodeMaskPng(x.mask, s.width, s.height),
        );
      }
    }
    log(`mask(s) → ${out}`);
  }
  if (segOut) {
    writeOutput(segOut, r.seg);
    log(`DICOM-SEG (${r.results.length} slice(s)) → ${segOut}`);
  }
  if (stow && pacs) {
    const client = new DicomwebClient({
      url: stow,
      log: new EgressLog(home.egressLogFile),
      ...(pacs.auth ? { authorization: pacs.auth } : {}),
      timeoutMs: pacs.timeoutMs,
    });
    try {
      await client.store([r.seg]);
    } catch (e) {
      throw pacsUserError(e) ?? e;
    }
    log(`DICOM-SEG stored in the PACS (STOW-RS)`);
  }
  if (v.bool('json'))
    console.log(printableJson(r.results.map((x) => ({ slice: x.index + 1, ...x.decision }))));
  else console.log(describeSeriesDecisions(r.results.map((x) => x.decision)));
}

/** `--pacs <url> --series-uid <uid>`: the series pulled into the home's PACS cache (only what is missing). */
async function pullSeriesToSegment(v: OptionValues, url: string, log: (l: string) => void): Promise<string> {
  const series = v.string('series-uid');
  if (!series) throw new UserError('--pacs wants the series to segment: --series-uid <uid>', EXIT.usage);
  if (v.string('dicom') || v.string('image'))
    throw new UserError('give one of --image, --dicom or --pacs', EXIT.usage);
  const flags = pacsFlags(v, url, '--pacs');
  const home = new AgentHome(v.string('home'));
  if (!home.exists())
    throw new UserError(
      `DICOM segmentation runs in an agent home (site-agent init); none at ${home.dir}`,
      EXIT.usage,
    );
  const egress = new EgressLog(home.egressLogFile);
  checkPacsAllowed(home.readConfig(), url, 'pacs_qido', egress);
  try {
    const r = await pullFromPacs({
      pacsUrl: url,
      series,
      withMasks: false,
      dest: join(home.dir, 'pacs-cache'),
      log: egress,
      fallbackToAny: true,
      timeoutMs: flags.timeoutMs,
      ...(flags.auth ? { auth: flags.auth } : {}),
      onProgress: (p) => {
        if (p.done === p.total) log(`  pacs ${formatPullProgress(p)}`);
      },
    });
    for (const p of r.problems) log(`  problem [pacs] instance ${p.instance ?? '?'}: ${p.reason}`);
    log(`pulled the series: ${r.fetched} instance(s) fetched, ${r.skipped} already here`);
    return r.seriesDirs[0];
  } catch (e) {
    throw pacsUserError(e) ?? e;
  }
}

function parseSlices(s: string | undefined): [number, number] | undefined {
  if (!s) return undefined;
  const m = /^(\d+)(?:-(\d+))?$/.exec(s.trim());
  if (!m)
    throw new UserError(`--slices wants a-b (1-based, inclusive) or one number, got "${s}"`, EXIT.usage);
  return [Number(m[1]), Number(m[2] ?? m[1])];
}

function writeOutput(path: string, bytes: Uint8Array): void {
  try {
    writeFileSync(path, bytes);
  } catch (err) {
    throw new UserError(`cannot write output: ${(err as Error).message}`, EXIT.input);
  }
}
