import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makePrivateDir, openToOthers, restrictTree } from './private-files';

describe('private files', () => {
  const roots: string[] = [];
  const tmp = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'casam-private-'));
    roots.push(d);
    return d;
  };
  const mode = (p: string) => fs.lstatSync(p).mode & 0o777;
  afterEach(() => {
    for (const d of roots.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('makes missing directories 0700 under a permissive umask and leaves an existing one alone', () => {
    const root = tmp();
    const before = process.umask(0o002);
    try {
      makePrivateDir(path.join(root, 'a', 'b'));
    } finally {
      process.umask(before);
    }
    expect(mode(path.join(root, 'a'))).toBe(0o700);
    expect(mode(path.join(root, 'a', 'b'))).toBe(0o700);
    fs.chmodSync(path.join(root, 'a', 'b'), 0o750);
    makePrivateDir(path.join(root, 'a', 'b'));
    expect(mode(path.join(root, 'a', 'b'))).toBe(0o750);
  });

  it('takes group and world bits off a whole tree, keeps the owner bits, and does not follow links', () => {
    const root = tmp();
    const outside = tmp();
    fs.mkdirSync(path.join(root, 'base', '5'), { recursive: true });
    fs.writeFileSync(path.join(root, 'base', '5', '1259'), 'page');
    fs.writeFileSync(path.join(root, 'PG_VERSION'), '17');
    fs.writeFileSync(path.join(outside, 'elsewhere'), 'x');
    fs.symlinkSync(path.join(outside, 'elsewhere'), path.join(root, 'link'));
    for (const [p, m] of [
      ['', 0o755],
      ['base', 0o755],
      ['base/5', 0o775],
      ['base/5/1259', 0o666],
      ['PG_VERSION', 0o444],
    ] as const)
      fs.chmodSync(path.join(root, p), m);
    fs.chmodSync(path.join(outside, 'elsewhere'), 0o644);

    const found = openToOthers(root, 2);
    expect(found.count).toBe(5);
    expect(found.examples).toHaveLength(2);
    restrictTree(root);
    expect([mode(root), mode(path.join(root, 'base')), mode(path.join(root, 'base', '5'))]).toEqual([
      0o700, 0o700, 0o700,
    ]);
    expect(mode(path.join(root, 'base', '5', '1259'))).toBe(0o600);
    expect(mode(path.join(root, 'PG_VERSION'))).toBe(0o400);
    expect(mode(path.join(outside, 'elsewhere'))).toBe(0o644);
    expect(openToOthers(root)).toEqual({ count: 0, examples: [] });
  });
});
