import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixturePath } from '../testing/fixtures';
import {
  CheckpointError,
  detectCheckpointFormat,
  parseCheckpoint,
  readCheckpoint,
  readFileFully,
} from './checkpoint';
import { PickleWriter } from './pickle-writer';
import { LegacyTorchFormatError } from './pth-reader';
import { SafetensorsError } from './safetensors';
import { UnsafePickleError } from './unpickler';
import { ZipError, openZip } from './zip-reader';
import { writeZip } from './zip-writer';

const dir = mkdtempSync(join(tmpdir(), 'casam-ckpt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const PTH = fixturePath('sam-mini/sam-mini.pth');
const ST = fixturePath('sam-mini/sam-mini.safetensors');

function put(name: string, data: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
}

function thrown(f: () => unknown): CheckpointError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    return e as CheckpointError;
  }
  throw new Error('expected a CheckpointError');
}

describe('checkpoint', () => {
  it('detects the format by magic bytes, not by extension', () => {
    const pth = new Uint8Array(readFileSync(PTH));
    const st = new Uint8Array(readFileSync(ST));
    expect(detectCheckpointFormat(pth)).toBe('pth');
    expect(detectCheckpointFormat(st)).toBe('safetensors');
    expect(detectCheckpointFormat(new TextEncoder().encode('<!DOCTYPE html><html>'))).toBeNull();
    // a .safetensors file named .pth (and vice versa) still loads
    expect(readCheckpoint(put('really-safetensors.pth', st)).size).toBe(202);
    expect(readCheckpoint(put('really-pth.safetensors', pth)).size).toBe(202);
  });

  it('reads both fixture formats from disk to the same tensors', () => {
    const a = readCheckpoint(PTH);
    const b = readCheckpoint(ST);
    expect([...a.keys()]).toEqual([...b.keys()]);
    expect(a.get('mask_decoder.mask_tokens.weight')!.data).toEqual(
      b.get('mask_decoder.mask_tokens.weight')!.data,
    );
  });

  it('names the file for garbage, legacy, truncated and corrupt inputs', () => {
    const garbage = put('garbage.pth', new TextEncoder().encode('this is not a checkpoint at all'));
    const g = thrown(() => readCheckpoint(garbage));
    expect(g.message).toContain('garbage.pth');
    expect(g.message).toMatch(/unknown checkpoint format.*first bytes: 74 68 69 73/);
    expect(g.file).toBe(garbage);

    const legacy = Uint8Array.of(
      0x80,
      0x02,
      0x8a,
      0x0a,
      0x6c,
      0xfc,
      0x9c,
      0x46,
      0xf9,
      0x20,
      0x6a,
      0xa8,
      0x50,
      0x19,
    );
    const old = thrown(() => parseCheckpoint(legacy, 'old.pth'));
    expect(old.message).toMatch(/^old\.pth: .*legacy.*re-save/);
    expect(old.cause).toBeInstanceOf(LegacyTorchFormatError);

    const pth = new Uint8Array(readFileSync(PTH));
    const cut = thrown(() => readCheckpoint(put('cut.pth', pth.subarray(0, 2_000_000))));
    expect(cut.message).toMatch(/cut\.pth: cannot read PyTorch checkpoint: .*truncated/);
    expect(cut.cause).toBeInstanceOf(ZipError);

    // Flip one byte inside a storage entry: only the CRC can notice.
    const entry = openZip(pth).read('sam-mini/data/7');
    const flipped = pth.slice();
    flipped[entry.byteOffset + 10] ^= 0x01;
    const crc = thrown(() => readCheckpoint(put('flipped.pth', flipped)));
    expect(crc.message).toMatch(/flipped\.pth: .*"sam-mini\/data\/7": CRC-32 mismatch/);

    const st = new Uint8Array(readFileSync(ST));
    const stCut = thrown(() => parseCheckpoint(st.subarray(0, st.byteLength - 100), 'w.safetensors'));
    expect(stCut.message).toMatch(/^w\.safetensors: cannot read safetensors file: .*outside/);
    expect(stCut.cause).toBeInstanceOf(SafetensorsError);

    const missing = thrown(() => readCheckpoint(join(dir, 'does-not-exist.pth')));
    expect(missing.message).toMatch(/does-not-exist\.pth: cannot read file: .*ENOENT/);
  });

  it('refuses a .pth whose pickle calls os.system, keeping the cause', () => {
    const p = new PickleWriter().proto(2).global('os', 'system').str('rm -rf /').raw(0x85).reduce().stop();
    const evil = writeZip([{ name: 'evil/data.pkl', data: p.bytes() }]);
    const e = thrown(() => parseCheckpoint(evil, 'evil.pth'));
    expect(e.message).toMatch(/evil\.pth: .*refusing to load global "os\.system"/);
    expect(e.cause).toBeInstanceOf(UnsafePickleError);
  });

  it('readFileFully returns the exact bytes', () => {
    const data = Uint8Array.from({ length: 10_000 }, (_, i) => i & 0xff);
    expect(readFileFully(put('blob.bin', data))).toEqual(data);
    expect(readFileFully(put('empty.bin', new Uint8Array(0))).byteLength).toBe(0);
  });
});
