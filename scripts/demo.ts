/**
 * `npm run demo` — what the product does today, end to end, on this machine.
 *
 * The full local federation (coordinator + three site agents on synthetic domains) lands with the federation
 * issue; until then the demo runs the part that exists: SAM in TypeScript on both engines, through the
 * site agent's own CLI, on a synthetic image it draws itself.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeImage, encodeRgbPng } from '@casam/casam-core';
import { readFileSync } from 'node:fs';

const root = resolve(__dirname, '..');
const fixtures = process.env['CASAM_FIXTURES'] ?? resolve(root, '../shared/fixtures');
const say = (s: string) => console.log(`\n▶ ${s}`);

function syntheticImage(w: number, h: number): Uint8Array {
  // A bright ellipse ("organ") on a noisy darker background, deterministic.
  const data = new Uint8Array(w * h * 3);
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const inside = ((x - w * 0.55) / (w * 0.22)) ** 2 + ((y - h * 0.45) / (h * 0.18)) ** 2 < 1;
      const v = inside ? 200 + 30 * rnd() : 50 + 40 * rnd();
      const i = (y * w + x) * 3;
      data[i] = v;
      data[i + 1] = v * 0.8;
      data[i + 2] = v * 0.7;
    }
  return data;
}

function run(args: string[]): void {
  console.log(`$ site-agent ${args.join(' ')}`);
  execFileSync(process.execPath, [join(root, 'apps/site-agent/bin/site-agent.js'), ...args], {
    stdio: 'inherit',
  });
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'casam-demo-'));
  const w = 320;
  const h = 240;
  const img = join(dir, 'synthetic.png');
  writeFileSync(img, encodeRgbPng({ width: w, height: h, data: syntheticImage(w, h) }));
  say(`drew a synthetic ${w}×${h} image: ${img}`);

  const ckpt = join(fixtures, 'sam-mini/sam-mini.pth');
  if (!existsSync(ckpt)) {
    console.log(
      `\nThe SAM test checkpoint (${ckpt}) is not on this machine, and the project's own default weights ` +
        'arrive with the CA-SAM engine. Bring an official checkpoint and run, e.g.:\n' +
        `  npx site-agent segment --model vit_b --checkpoint sam_vit_b_01ec64.pth --image ${img} --box 100,60,260,170 --out mask.png`,
    );
    return;
  }
  say('segment with the TF.js engine (official .pth read in TypeScript, best backend picked at run time)');
  run([
    'segment',
    '--model',
    'sam-mini',
    '--checkpoint',
    ckpt,
    '--image',
    img,
    '--box',
    '100,60,260,170',
    '--out',
    join(dir, 'mask-tfjs.png'),
  ]);
  say('the same with ONNX Runtime on the official-format exports');
  run([
    'segment',
    '--model',
    'sam-mini',
    '--engine',
    'onnx',
    '--encoder-onnx',
    join(fixtures, 'onnx/sam-mini-encoder.onnx'),
    '--decoder-onnx',
    join(fixtures, 'onnx/sam-mini-decoder.onnx'),
    '--image',
    img,
    '--box',
    '100,60,260,170',
    '--out',
    join(dir, 'mask-onnx.png'),
  ]);
  const a = decodeImage(readFileSync(join(dir, 'mask-tfjs.png'))).data;
  const b = decodeImage(readFileSync(join(dir, 'mask-onnx.png'))).data;
  let diff = 0;
  for (let i = 0; i < a.length; i += 3) if (a[i] !== b[i]) diff++;
  say(`engines agree on ${(100 * (1 - diff / (w * h))).toFixed(3)}% of pixels (${diff} differ)`);
  console.log(
    '\nNote: sam-mini carries random test weights, so its mask shows the pipeline, not anatomy. ' +
      'The federation demo (coordinator + three sites) is not built yet.',
  );
}

main();
