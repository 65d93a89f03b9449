import { writeFileSync } from 'node:fs';
import { MODEL_HELP, MODEL_OPTIONS, modelFlags } from './model-options';
import { readImageFile } from './read-image';
import { parseBox, parsePoint, promptProblem } from '../cli/args';
import { EXIT, UserError } from '../cli/errors';
import { printableJson } from '../cli/printable';
import { Command } from './command';
import { AgentHome } from '../home/agent-home';
import { HOME_HELP, HOME_OPTION } from './home-option';
import { describeDecision } from '../use-cases/routing-decision';
import { type SegmentRequest, segmentWithBundle, segmentWithModel } from '../use-cases/segment-image';

export const segmentCommand: Command = {
  name: 'segment',
  summary: 'segment one image from a box and/or points; write the mask as PNG',
  usage: `site-agent segment --image <file> (--box x0,y0,x1,y1 | --point x,y[,label] ...)... [--multimask]
                   --out <mask.png> [--logits-out <file.safetensors>] [model options]
  --box x0,y0,x1,y1         box prompt (at most one): inclusive pixel indices of the object's top-left and
                            bottom-right pixels (a 1-pixel-wide object has x0 = x1; the whole image 0,0,W-1,H-1)
  --point x,y[,label]       point prompt; label 1 foreground (default), 0 background; repeatable
  --multimask               predict 3 candidate masks and keep the one with the best predicted IoU
  --out <mask.png>          binary mask (0/255) at the original image size
  --logits-out <file>       low_res_masks [1,K,h,w] and iou_predictions [1,K] as safetensors
  --json                    print the routing decision as JSON
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
    ...HOME_OPTION,
  },
  async run(v, log) {
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

function writeOutput(path: string, bytes: Uint8Array): void {
  try {
    writeFileSync(path, bytes);
  } catch (err) {
    throw new UserError(`cannot write output: ${(err as Error).message}`, EXIT.input);
  }
}
