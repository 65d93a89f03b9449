import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDirLock, DataDirLockedError } from './data-dir-lock';

describe('DataDirLock', () => {
  let dir: string;
  let lockPath: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casam-lock-'));
    lockPath = path.join(dir, 'db.lock');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes our pid, refuses a second holder in this process, and removes the file on release', () => {
    const lock = DataDirLock.acquire(lockPath);
    expect(fs.readFileSync(lockPath, 'utf8').trim()).toBe(String(process.pid));
    expect(() => DataDirLock.acquire(lockPath)).toThrow(DataDirLockedError);
    lock.release();
    expect(fs.existsSync(lockPath)).toBe(false);
    DataDirLock.acquire(lockPath).release();
  });

  it('refuses while another live process holds it', async () => {
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    try {
      fs.writeFileSync(lockPath, `${other.pid}\n`);
      expect(() => DataDirLock.acquire(lockPath)).toThrow(new RegExp(`in use by process ${other.pid}`));
    } finally {
      other.kill();
    }
  });

  it('takes over a lock left by a dead process or by an earlier life of our own pid', () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    fs.writeFileSync(lockPath, `${dead.stdout}\n`);
    DataDirLock.acquire(lockPath).release();
    fs.writeFileSync(lockPath, `${process.pid}\n`);
    DataDirLock.acquire(lockPath).release();
  });
});
