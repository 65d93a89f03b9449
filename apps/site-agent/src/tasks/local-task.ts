import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DatasetIndex, writeFileAtomic } from '@casam/casam-core';
import { EXIT, UserError } from '../cli/errors';
import type { AgentHome } from '../home/agent-home';

/** A local task's record (`<home>/tasks/<name>/task.json`). */
export interface LocalTask {
  version: 1;
  name: string;
  modality: string;
  /** Class names, in class-id order: the target structures. */
  structures: string[];
  source: { kind: 'folder' | 'nifti' | 'dicom' | 'pacs'; paths: string[] };
  indexedAt: string;
  counts: { train: number; val: number; test: number; problems: number };
  /** Set by `propose`; `status` is refreshed by `status` (the coordinator decides it), `checkedAt` says when. */
  coordinator?: { taskId: string; status: string; proposedAt: string; checkedAt?: string };
  /** Set by `train`. */
  training?: {
    adapter: string;
    trainedAt: string;
    metrics: Record<string, number>;
    tau: number;
    /** The percentile of the held-out scores τ was taken at (absent in records from before the option: 97). */
    tauPercentile?: number;
  };
  /** Set by `upload`: the adapter version the coordinator created. */
  upload?: { uploadId: string; sha256: string; adapterVersionId?: string; completedAt?: string };
}

export const TASK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkTaskName(name: string): string {
  if (!TASK_NAME.test(name))
    throw new UserError(
      `task name "${name}" must be 1..64 of letters, digits, . _ - (starting with a letter or digit)`,
      EXIT.usage,
    );
  return name;
}

export class TaskStore {
  constructor(private readonly home: AgentHome) {}

  dir(name: string): string {
    return this.home.taskDir(checkTaskName(name));
  }
  indexFile(name: string): string {
    return join(this.dir(name), 'index.json');
  }
  file(name: string): string {
    return join(this.dir(name), 'task.json');
  }

  exists(name: string): boolean {
    return existsSync(this.file(name));
  }

  read(name: string): LocalTask {
    if (!this.exists(name))
      throw new UserError(
        `no local task "${name}"; run: site-agent ingest --task ${name} --folder <dir>`,
        EXIT.usage,
      );
    return JSON.parse(readFileSync(this.file(name), 'utf8')) as LocalTask;
  }

  /** Mode 0600 whatever the umask: the task record names the folders that hold patient images. */
  write(t: LocalTask): void {
    this.home.ensureDir();
    writeFileAtomic(this.file(t.name), JSON.stringify(t, null, 2) + '\n', 0o600);
  }

  update(name: string, edit: (t: LocalTask) => void): LocalTask {
    const t = this.read(name);
    edit(t);
    this.write(t);
    return t;
  }

  readIndex(name: string): DatasetIndex {
    return JSON.parse(readFileSync(this.indexFile(name), 'utf8')) as DatasetIndex;
  }

  /** Mode 0600 whatever the umask: the index lists every patient image and mask path of the task. */
  writeIndex(name: string, index: DatasetIndex): void {
    this.home.ensureDir();
    writeFileAtomic(this.indexFile(name), JSON.stringify(index), 0o600);
  }
}
