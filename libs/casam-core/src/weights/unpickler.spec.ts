import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fixturePath } from '../testing/fixtures';
import { PickleWriter } from './pickle-writer';
import {
  PickleDict,
  PickleError,
  PickleTuple,
  TorchTensorRef,
  UnsafePickleError,
  unpickle,
} from './unpickler';
import { openZip } from './zip-reader';

const w = (): PickleWriter => new PickleWriter().proto(2);

describe('unpickler', () => {
  it('decodes scalars, strings and containers', () => {
    expect(unpickle(w().int(7).stop().bytes())).toBe(7);
    expect(unpickle(w().int(40000).stop().bytes())).toBe(40000);
    expect(unpickle(w().int(-5).stop().bytes())).toBe(-5);
    expect(
      unpickle(
        w()
          .int(2 ** 40)
          .stop()
          .bytes(),
      ),
    ).toBe(2 ** 40); // LONG1
    expect(
      unpickle(
        w()
          .int(-(2 ** 40))
          .stop()
          .bytes(),
      ),
    ).toBe(-(2 ** 40));
    expect(
      unpickle(
        w()
          .int(2n ** 70n)
          .stop()
          .bytes(),
      ),
    ).toBe(2n ** 70n);
    expect(unpickle(w().int(128).raw(0x2e).bytes())).toBe(128);
    expect(unpickle(w().float(-1.25).stop().bytes())).toBe(-1.25);
    expect(unpickle(w().bool(true).stop().bytes())).toBe(true);
    expect(unpickle(w().none().stop().bytes())).toBe(null);
    expect(unpickle(w().str('héllo ✓').stop().bytes())).toBe('héllo ✓');
    // SHORT_BINUNICODE (protocol 4) inside a FRAME
    expect(
      unpickle(
        new PickleWriter().proto(4).raw(0x95, 4, 0, 0, 0, 0, 0, 0, 0, 0x8c, 2, 0x68, 0x69, 0x2e).bytes(),
      ),
    ).toBe('hi');
    // SHORT_BINBYTES
    expect(unpickle(w().raw(0x43, 3, 1, 2, 3).stop().bytes())).toEqual(new Uint8Array([1, 2, 3]));

    const t = unpickle(w().mark().int(1).str('a').none().tuple().stop().bytes());
    expect(t).toBeInstanceOf(PickleTuple);
    expect((t as PickleTuple).items).toEqual([1, 'a', null]);
    expect((unpickle(w().int(1).int(2).raw(0x86).stop().bytes()) as PickleTuple).items).toEqual([1, 2]);
    expect((unpickle(w().int(1).int(2).int(3).raw(0x87).stop().bytes()) as PickleTuple).items).toEqual([
      1, 2, 3,
    ]);

    const list = unpickle(w().emptyList().int(1).append().mark().int(2).int(3).appends().stop().bytes());
    expect(list).toEqual([1, 2, 3]);

    const d = unpickle(
      w()
        .emptyDict()
        .str('x')
        .int(1)
        .setitem()
        .mark()
        .str('y')
        .int(2)
        .str('z')
        .none()
        .setitems()
        .stop()
        .bytes(),
    );
    expect(d).toBeInstanceOf(PickleDict);
    expect([...(d as PickleDict).items]).toEqual([
      ['x', 1],
      ['y', 2],
      ['z', null],
    ]);
  });

  it('shares memoised objects (BINPUT/BINGET, LONG_BINPUT/LONG_BINGET, MEMOIZE)', () => {
    const v = unpickle(
      w().mark().emptyList().binput(0).binget(0).binput(300).binget(300).raw(0x94).tuple().stop().bytes(),
    );
    const items = (v as PickleTuple).items;
    expect(items.length).toBe(3);
    expect(items[0]).toBe(items[1]);
    expect(items[1]).toBe(items[2]);
  });

  it('builds OrderedDicts and tensor references from the allowlisted globals', () => {
    const p = w().global('collections', 'OrderedDict').emptyTuple().reduce().str('t');
    p.global('torch._utils', '_rebuild_parameter');
    p.mark().global('torch._utils', '_rebuild_tensor_v2').mark();
    p.mark().str('storage').global('torch', 'HalfStorage').str('7').str('cuda:0').int(12).tuple().binpersid();
    p.int(2).mark().int(2).int(5).tuple().mark().int(5).int(1).tuple().bool(false);
    p.global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
    p.bool(true).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
    p.setitem().emptyDict().str('_metadata').int(1).setitem().build().stop();
    const d = unpickle(p.bytes()) as PickleDict;
    expect(d.className).toBe('collections.OrderedDict');
    expect(d.attrs.get('_metadata')).toBe(1);
    const t = d.items.get('t') as TorchTensorRef;
    expect(t).toBeInstanceOf(TorchTensorRef);
    expect(t.storage.type.dtype).toBe('float16');
    expect(t.storage.key).toBe('7');
    expect(t.storage.location).toBe('cuda:0');
    expect(t.storage.numel).toBe(12);
    expect(t.storageOffset).toBe(2);
    expect(t.size).toEqual([2, 5]);
    expect(t.stride).toEqual([5, 1]);
  });

  it('unpickles the official-format sam-mini data.pkl', () => {
    const zip = openZip(new Uint8Array(readFileSync(fixturePath('sam-mini/sam-mini.pth'))));
    const d = unpickle(zip.read('sam-mini/data.pkl')) as PickleDict;
    expect(d.items.size).toBe(202);
    expect([...d.items.values()].every((v) => v instanceof TorchTensorRef)).toBe(true);
    expect(d.attrs.get('_metadata')).toBeInstanceOf(PickleDict); // state_dict version info via BUILD
    const pos = d.items.get('image_encoder.pos_embed') as TorchTensorRef;
    expect(pos.size).toEqual([1, 16, 16, 96]);
    expect(pos.storage.type.qualname).toBe('torch.FloatStorage');
  });

  it('refuses globals outside the allowlist, naming them, before anything runs', () => {
    // The classic exploit: os.system("...") via GLOBAL + REDUCE.
    const evil = w().global('os', 'system').str('touch /tmp/pwned').raw(0x85).reduce().stop().bytes();
    expect(() => unpickle(evil)).toThrow(UnsafePickleError);
    expect(() => unpickle(evil)).toThrow(/refusing to load global "os\.system"/);
    // Same via STACK_GLOBAL (protocol 4).
    const evil4 = new PickleWriter().proto(4).str('builtins').str('eval').raw(0x93).stop().bytes();
    try {
      unpickle(evil4);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(UnsafePickleError);
      expect((e as UnsafePickleError).global).toBe('builtins.eval');
    }
    // Near-misses of allowed names are refused too.
    expect(() => unpickle(w().global('torch', 'load').stop().bytes())).toThrow(/"torch\.load"/);
    expect(() => unpickle(w().global('torch._utils', '_rebuild_qtensor').stop().bytes())).toThrow(
      UnsafePickleError,
    );
    expect(() => unpickle(w().global('__torch__.Model', 'forward').stop().bytes())).toThrow(/TorchScript/);
  });

  it('rejects malformed programs with PickleError', () => {
    expect(() => unpickle(w().str('abc').bytes())).toThrow(/truncated/); // no STOP
    expect(() => unpickle(w().str('abcdef').bytes().subarray(0, 8))).toThrow(/truncated/);
    expect(() => unpickle(w().stop().bytes())).toThrow(/stack underflow/);
    expect(() => unpickle(w().binget(3).stop().bytes())).toThrow(/memo key 3/);
    expect(() => unpickle(w().raw(0xff).bytes())).toThrow(/unsupported pickle opcode/);
    expect(() => unpickle(w().int(1).int(2).stop().bytes())).toThrow(/stack not empty/);
    expect(() => unpickle(w().int(1).int(2).reduce().stop().bytes())).toThrow(/not callable/);
    expect(() => unpickle(w().global('torch', 'FloatStorage').emptyTuple().reduce().stop().bytes())).toThrow(
      /not callable/,
    );
    expect(() => unpickle(w().int(1).int(2).setitem().stop().bytes())).toThrow(PickleError);
    expect(() => unpickle(w().mark().str('x').tuple().binpersid().stop().bytes())).toThrow(/persistent id/);
    expect(() => unpickle(w().raw(0x58, 0xff, 0xff, 0xff, 0x7f).stop().bytes())).toThrow(/truncated/);
  });
});
