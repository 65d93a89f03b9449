import { writeFileSync } from 'node:fs';
import { createRoutedSegmenter, encodeMaskPng, PromptError, type RgbImage } from '@casam/casam-core';
import { EXIT, UserError } from '../cli/errors';
import { printableJson } from '../cli/printable';
import { BundleStore } from '../bundle/bundle-store';
import { loadActiveBundle } from '../bundle/installed-bundle';
import { AgentHome } from '../home/agent-home';
import { loadBaseModel } from '../model/base-model';
import type { OptionValues } from './command';
import { describeDecision, type SegmentDecisionJson, decisionJson } from './routing-decision';

/** `segment` inside an agent home: base model from the config, routing from the installed bundle. */
export async function segmentWithBundle(
  v: OptionValues,
  img: RgbImage,
  imagePath: string,
  out: string,
  boxes: [number, number, number, number][],
  points: { xy: [number, number]; label: number }[],
  log: (l: string) => void,
): Promise<void> {
  const home = new AgentHome(v.string('home'));
  const config = home.readConfig();
  const base = await loadBaseModel(home, config, log);
  const bundle = await loadActiveBundle(
    new BundleStore(home.bundlesDir),
    home.readState(),
    base.fingerprint,
    base.config.outChans,
    log,
  );
  if (!bundle) log('no usable router bundle installed: every image goes to frozen SAM (run site-agent pull)');
  const seg = createRoutedSegmenter(base.engine, bundle?.adapters ?? []);
  try {
    let r;
    try {
      r = await seg.segment(img, {
        box: boxes[0],
        points: points.length ? points.map((p) => p.xy) : undefined,
        labels: points.length ? points.map((p) => p.label) : undefined,
        multimask: v.bool('multimask'),
      });
    } catch (e) {
      if (e instanceof PromptError) throw new UserError(`${imagePath}: ${e.message}`, EXIT.input);
      throw e;
    }
    try {
      writeFileSync(out, encodeMaskPng(r.binary[r.best], img.width, img.height));
    } catch (err) {
      throw new UserError(`cannot write output: ${(err as Error).message}`, EXIT.input);
    }
    const json: SegmentDecisionJson = decisionJson(
      r,
      bundle?.names ?? new Map(),
      bundle?.installed.version ?? null,
    );
    if (v.bool('json')) console.log(printableJson(json));
    else console.log(describeDecision(json));
    log(`mask → ${out}`);
  } finally {
    seg.dispose();
  }
}
