import { WINDOW_PRESETS, type WindowChoice, isWindowPreset } from '@casam/dicom';
import { isDicomFile, readImageFile, writeOutputFile } from '../io/image-file';
import { type DicomSeriesSource, segmentDicomSeries } from '../use-cases/segment-dicom-series';
import { PACS_HELP, PACS_OPTIONS, pacsFlags } from './pacs-options';
import { MODEL_HELP, MODEL_OPTIONS, modelFlags } from './model-options';
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
    if (pacs) return segmentDicomCommand(v, pacsSource(v, pacs), log);
    const dicom = v.string('dicom') ?? dicomImage(v.string('image'));
    if (dicom)
      return segmentDicomCommand(v, { kind: 'path', path: dicom, seriesUid: v.string('series-uid') }, log);
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
      writeOutputFile(out, r.maskPng);
      console.log(v.bool('json') ? printableJson(r.decision) : describeDecision(r.decision));
      log(`mask → ${out}`);
      return;
    }
    const m = modelFlags(v);
    const logitsOut = v.string('logits-out');
    const r = await segmentWithModel(m.engine, m.files, { ...request, withLogits: !!logitsOut }, log);
    writeOutputFile(out, r.maskPng);
    if (logitsOut) writeOutputFile(logitsOut, r.logits!);
    const fg = r.foregroundPixels;
    log(
      `mask ${img.width}×${img.height} → ${out}: ${fg} foreground px (${((100 * fg) / (img.width * img.height)).toFixed(1)}%), ` +
        `predicted IoU ${r.predictedIou.toFixed(3)}${r.candidates > 1 ? ` (best of ${r.candidates})` : ''}`,
    );
  },
};

/** The `--image` path when its content is DICOM Part 10 (whatever its name), else undefined. */
function dicomImage(image: string | undefined): string | undefined {
  return image && isDicomFile(image) ? image : undefined;
}

/** `--pacs <url> --series-uid <uid>`: the series to pull into the home's PACS cache (only what is missing). */
function pacsSource(v: OptionValues, url: string): DicomSeriesSource {
  const seriesUid = v.string('series-uid');
  if (!seriesUid) throw new UserError('--pacs wants the series to segment: --series-uid <uid>', EXIT.usage);
  if (v.string('dicom') || v.string('image'))
    throw new UserError('give one of --image, --dicom or --pacs', EXIT.usage);
  return { kind: 'pacs', pacs: { url, ...pacsFlags(v, url, '--pacs') }, seriesUid };
}

async function segmentDicomCommand(
  v: OptionValues,
  source: DicomSeriesSource,
  log: (l: string) => void,
): Promise<void> {
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
  const r = await segmentDicomSeries(
    new AgentHome(v.string('home')),
    {
      source,
      box: boxes[0],
      points,
      multimask: v.bool('multimask'),
      slices: parseSlices(v.string('slices')),
      window: window as WindowChoice,
      promptCheck: (w, h) => promptProblem({ box: boxes[0], points: points.map((p) => p.xy) }, w, h),
      ...(out ? { out } : {}),
      ...(segOut ? { segOut } : {}),
      ...(stow ? { stow: { url: stow, ...pacsFlags(v, stow, '--stow') } } : {}),
      engine: modelFlags(v).engine,
    },
    log,
  );
  if (v.bool('json'))
    console.log(printableJson(r.results.map((x) => ({ slice: x.index + 1, ...x.decision }))));
  else console.log(describeSeriesDecisions(r.results.map((x) => x.decision)));
}

function parseSlices(s: string | undefined): [number, number] | undefined {
  if (!s) return undefined;
  const m = /^(\d+)(?:-(\d+))?$/.exec(s.trim());
  if (!m)
    throw new UserError(`--slices wants a-b (1-based, inclusive) or one number, got "${s}"`, EXIT.usage);
  return [Number(m[1]), Number(m[2] ?? m[1])];
}
