import { AgentHome } from '../home/agent-home';
import { EXIT, UserError } from '../cli/errors';
import { printable } from '../cli/printable';
import { exportCheckpointOnnx, exportHomeOnnx, type OnnxExportReport } from '../use-cases/export-onnx';
import type { Command } from './command';
import { HOME_HELP, HOME_OPTION } from './home-option';

const size = (b: number) =>
  b < 2 ** 20 ? `${(b / 1024).toFixed(1)} KiB` : `${(b / 2 ** 20).toFixed(2)} MiB`;
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export const exportOnnxCommand: Command = {
  name: 'export-onnx',
  summary: "export the base model (and the bundle's Alignment Layers) to ONNX now, checked against tfjs",
  usage: `site-agent export-onnx [--home <dir>] [--force]
       site-agent export-onnx --model <preset> --checkpoint <file> --out <dir> [--force]
  Writes the ONNX graphs segment and serve run on (otherwise exported on their first use) and checks them
  against tfjs on a probe input. With an agent home: into <home>/onnx-cache/, where those commands look.
  With --checkpoint: into <dir>/<preset>-<fingerprint>-x<exporter>/ (segment --checkpoint <file>
  --onnx-cache <dir> uses it; or pass its files as --encoder-onnx and --decoder-onnx).
${HOME_HELP}
  --model <preset>          vit_b | vit_l | vit_h | sam-mini | casam-tiny | casam-small (with --checkpoint)
  --checkpoint <file>       SAM weights (.pth or .safetensors) to export without an agent home
  --out <dir>               where to write the export of --checkpoint
  --backend <name>          tfjs backend of the probe's reference (default: the home's, or auto)
  --force                   export again even if a checked export (or a refused one) is cached
  exit 4: the export disagrees with tfjs on the probe (nothing is kept; segment and serve run tfjs);
  exit 5: ONNX Runtime cannot run here`,
  options: {
    ...HOME_OPTION,
    model: { type: 'string' },
    checkpoint: { type: 'string' },
    out: { type: 'string' },
    backend: { type: 'string' },
    force: { type: 'boolean', default: false },
  },
  async run(v, log) {
    const checkpoint = v.string('checkpoint');
    const force = v.bool('force');
    let r: OnnxExportReport;
    if (checkpoint || v.string('out') || v.string('model')) {
      if (v.string('home'))
        throw new UserError('--home and --checkpoint/--out are two forms; pass one of them', EXIT.usage);
      const model = v.string('model', true);
      const out = v.string('out', true);
      r = await exportCheckpointOnnx(
        { model, checkpoint: v.string('checkpoint', true), backend: v.string('backend') },
        out,
        log,
        { force },
      );
    } else {
      if (v.string('backend')) throw new UserError('--backend goes with --checkpoint (a home has its own)');
      r = await exportHomeOnnx(new AgentHome(v.string('home')), log, { force });
    }
    const b = r.base;
    console.log(
      b.exported
        ? `exported ${r.preset} (${r.modelFingerprint.slice(0, 23)}…) in ${sec(b.exportMs)}, probe passed in ${sec(b.probe.ms)}`
        : `${r.preset} (${r.modelFingerprint.slice(0, 23)}…) was already exported and checked (probe of ${b.probe.comparisons.length} outputs passed; --force exports again)`,
    );
    console.log(`  ${b.dir}`);
    for (const f of r.files) console.log(`    ${f.what.padEnd(30)} ${size(f.bytes).padStart(11)}  ${f.path}`);
    console.log(
      `  probe vs tfjs: ${b.probe.comparisons.map((c) => `${c.name} ${c.maxAbsDiff.toExponential(1)}`).join(', ')}`,
    );
    for (const a of r.alignmentLayers)
      console.log(
        `    ${printable(a.what).padEnd(30)} ${size(a.bytes).padStart(11)}  ${a.path}${a.exported ? '' : ' (already there)'}`,
      );
    console.log(`total ${sec(r.totalMs)}`);
  },
};
