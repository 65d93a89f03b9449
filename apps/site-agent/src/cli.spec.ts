import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeImage, encodeRgbPng, readSafetensors } from '@casam/casam-core';
// Test-only helpers (not part of casam-core's public API, so imported by path within the package).
import { expectClose, fixturePath, fixtureTensor } from '@casam/casam-core/testing';

// The real CLI in a real child process, as hospital IT runs it.
const BIN = resolve(__dirname, '../bin/site-agent.js');
const dir = mkdtempSync(join(tmpdir(), 'site-agent-cli-'));
const ckpt = fixturePath('sam-mini/sam-mini.pth');
const img = fixturePath('sam-mini/test-image-200x240.png');
// 1 row of 700 pixels: 0.37 px tall at the model's 256-px input.
const strip = join(dir, 'strip-1x700.png');
writeFileSync(strip, encodeRgbPng({ width: 700, height: 1, data: new Uint8Array(700 * 3).fill(80) }));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, CASAM_BACKEND: 'wasm' } },
      (err, stdout, stderr) =>
        res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('site-agent CLI', () => {
  it('embed writes image_embeddings [1,C,H,W] matching the official encoder', async () => {
    const out = join(dir, 'emb.safetensors');
    const r = await cli([
      'embed',
      '--model',
      'sam-mini',
      '--checkpoint',
      ckpt,
      '--image',
      fixturePath('sam-mini/test-image-256x256.png'),
      '--out',
      out,
    ]);
    expect(r.stderr).toMatch(/backend: wasm/);
    expect(r.code).toBe(0);
    const st = readSafetensors(readFileSync(out));
    expectClose(
      st.tensors.get('image_embeddings')!,
      fixtureTensor('sam-mini/sam-mini-golden.safetensors', 'image_embeddings'),
      1e-4,
      'cli embed',
    );
    expect(st.metadata['model']).toBe('sam-mini');
  });

  it('segment writes the mask at the original size and the low-res logits (tfjs and onnx agree)', async () => {
    const box = ['--box', '40,30,180,150'];
    const a = await cli([
      'segment',
      '--model',
      'sam-mini',
      '--checkpoint',
      ckpt,
      '--image',
      img,
      ...box,
      '--out',
      join(dir, 'a.png'),
      '--logits-out',
      join(dir, 'a.safetensors'),
    ]);
    expect(a.code).toBe(0);
    const b = await cli([
      'segment',
      '--model',
      'sam-mini',
      '--engine',
      'onnx',
      '--encoder-onnx',
      fixturePath('onnx/sam-mini-encoder.onnx'),
      '--decoder-onnx',
      fixturePath('onnx/sam-mini-decoder.onnx'),
      '--image',
      img,
      ...box,
      '--out',
      join(dir, 'b.png'),
    ]);
    expect(b.code).toBe(0);
    const ma = decodeImage(readFileSync(join(dir, 'a.png')));
    expect([ma.width, ma.height]).toEqual([240, 200]);
    const golden = fixtureTensor('sam-mini/sam-mini-golden.safetensors', 'resize.box.single.masks')
      .data as Float32Array;
    let same = 0;
    const mb = decodeImage(readFileSync(join(dir, 'b.png')));
    for (let i = 0; i < 240 * 200; i++) {
      same += Number(ma.data[3 * i] > 0 === golden[i] > 0);
      expect(ma.data[3 * i]).toBe(mb.data[3 * i]);
    }
    expect(same).toBeGreaterThan(240 * 200 - 5);
    const st = readSafetensors(readFileSync(join(dir, 'a.safetensors')));
    expect(st.tensors.get('low_res_masks')!.shape).toEqual([1, 1, 64, 64]);
    expect(st.tensors.get('iou_predictions')!.shape).toEqual([1, 1]);
  });

  it('multimask keeps the best of three and says so', async () => {
    const r = await cli([
      'segment',
      '--model',
      'sam-mini',
      '--checkpoint',
      ckpt,
      '--image',
      img,
      '--point',
      '120,100,1',
      '--point',
      '60,160,0',
      '--multimask',
      '--out',
      join(dir, 'm.png'),
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/best of 3/);
  });

  it.each([
    [
      [
        'segment',
        '--model',
        'sam-mini',
        '--checkpoint',
        ckpt,
        '--image',
        '/nope.png',
        '--box',
        '1,1,5,5',
        '--out',
        '/tmp/x.png',
      ],
      3,
      /cannot read image \/nope.png: no such file/,
    ],
    [
      [
        'segment',
        '--model',
        'sam-mini',
        '--checkpoint',
        ckpt,
        '--image',
        ckpt,
        '--box',
        '1,1,5,5',
        '--out',
        '/tmp/x.png',
      ],
      3,
      /not a PNG or JPEG/,
    ],
    [
      [
        'segment',
        '--model',
        'sam-mini',
        '--checkpoint',
        ckpt,
        '--image',
        img,
        '--box',
        '10,10,500,100',
        '--out',
        '/tmp/x.png',
      ],
      3,
      /outside the 240×200 image/,
    ],
    [
      [
        'segment',
        '--model',
        'vit_b',
        '--checkpoint',
        ckpt,
        '--image',
        img,
        '--box',
        '1,1,5,5',
        '--out',
        '/tmp/x.png',
      ],
      4,
      /does not match the vit_b model[\s\S]*missing \(112\)[\s\S]*looks like a sam-mini checkpoint/,
    ],
    [
      [
        'segment',
        '--model',
        'vit_q',
        '--checkpoint',
        ckpt,
        '--image',
        img,
        '--box',
        '1,1,5,5',
        '--out',
        '/tmp/x.png',
      ],
      2,
      /unknown model preset "vit_q"/,
    ],
    [
      ['segment', '--model', 'sam-mini', '--checkpoint', ckpt, '--image', img, '--out', '/tmp/x.png'],
      2,
      /give a prompt/,
    ],
    [
      [
        'segment',
        '--model',
        'sam-mini',
        '--checkpoint',
        ckpt,
        '--image',
        img,
        '--box',
        '1,2',
        '--out',
        '/tmp/x.png',
      ],
      2,
      /--box expects x0,y0,x1,y1/,
    ],
    [
      [
        'segment',
        '--model',
        'sam-mini',
        '--checkpoint',
        ckpt,
        '--image',
        strip,
        '--box',
        '0,0,10,0',
        '--out',
        '/tmp/x.png',
      ],
      3,
      /1×700 image is too elongated/,
    ],
    [
      ['embed', '--model', 'sam-mini', '--checkpoint', ckpt, '--image', strip, '--out', '/tmp/x.st'],
      3,
      /too elongated/,
    ],
    [['embed', '--bogus'], 2, /Unknown option '--bogus'/],
    [['frobnicate'], 2, /unknown command "frobnicate"/],
  ])('bad input %# exits with its code and one clear message', async (args, code, msg) => {
    const r = await cli(args as string[]);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(msg as RegExp);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace for user errors
  });

  it('loads each command by its own name, and help lists them all', async () => {
    // main.ts requires a command's module when it runs (through the bin's tsx hook, so in a child process).
    const script = `require('tsx/cjs'); const { allCommands } = require(${JSON.stringify(resolve(__dirname, 'main.ts'))});
      console.log(JSON.stringify(allCommands().map((c) => [c.name, c.command.name, c.command.summary])));`;
    const listed = await new Promise<[string, string, string][]>((res, rej) =>
      execFile(process.execPath, ['-e', script], (err, stdout) => (err ? rej(err) : res(JSON.parse(stdout)))),
    );
    expect(listed.length).toBe(16);
    for (const [name, own] of listed) expect(own).toBe(name);
    expect(new Set(listed.map(([n]) => n)).size).toBe(listed.length);
    const r = await cli(['help']);
    expect(r.code).toBe(0);
    for (const [name, , summary] of listed) expect(r.stdout).toContain(`${name.padEnd(12)} ${summary}`);
  });

  it('refuses a truncated checkpoint', async () => {
    const bad = join(dir, 'cut.pth');
    writeFileSync(bad, readFileSync(ckpt).subarray(0, 100_000));
    const r = await cli([
      'embed',
      '--model',
      'sam-mini',
      '--checkpoint',
      bad,
      '--image',
      img,
      '--out',
      join(dir, 'e.safetensors'),
    ]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/cut.pth/);
  });
});
