import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { getPreset, randomSamStateDict, writeSafetensors } from '@casam/casam-core';
import { readFileSync, writeFileSync } from 'node:fs';

const BIN = resolve(__dirname, '../../bin/site-agent.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  /** Run under this umask (through /bin/sh), e.g. 0o022 as on a default Linux login. */
  umask?: number;
  /** Written to the process's stdin, then closed (default: stdin closed at once). */
  stdin?: string;
}

/** Runs the real CLI in a child process with its own agent home. */
export function agentCli(
  home: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  o: CliOptions = {},
): Promise<CliRun> & { child: import('node:child_process').ChildProcess } {
  const [cmd, argv] =
    o.umask === undefined
      ? [process.execPath, [BIN, ...args]]
      : [
          '/bin/sh',
          [
            '-c',
            `umask ${o.umask.toString(8).padStart(4, '0')} && exec "$0" "$@"`,
            process.execPath,
            BIN,
            ...args,
          ],
        ];
  const child = spawn(cmd, argv, {
    cwd: o.cwd,
    env: { ...process.env, CASAM_AGENT_HOME: home, CASAM_BACKEND: 'wasm', ...env },
    stdio: [o.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (o.stdin !== undefined) child.stdin!.end(o.stdin);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const p = new Promise<CliRun>((res, rej) => {
    child.once('error', rej);
    child.once('close', (code) => res({ code, stdout, stderr }));
  }) as Promise<CliRun> & { child: typeof child };
  p.child = child;
  return p;
}

/** A casam-tiny base model with random weights (the real one is being pretrained), as safetensors. */
export function writeRandomTinyModel(file: string, seed = 7): void {
  const sd = randomSamStateDict(getPreset('casam-tiny'), seed);
  writeFileSync(file, writeSafetensors([...sd.entries()]));
}

/**
 * `site-agent init` of a home that never reaches a coordinator (port 9, discard): what CLI specs of local
 * commands (ingest, train, segment, serve, export-onnx) start from. Throws with the output if init fails.
 */
export async function initOfflineHome(home: string, siteName: string, weights: string): Promise<void> {
  const init = await agentCli(home, [
    'init',
    '--coordinator',
    'http://127.0.0.1:9',
    '--site-name',
    siteName,
    '--preset',
    'casam-tiny',
    '--weights',
    weights,
  ]);
  if (init.code !== 0) throw new Error(`site-agent init → ${init.code}\n${init.stderr}`);
}

/** Adds DICOMweb roots to agent.json's `pacs.allowed`, as hospital IT does by hand (a PACS started by a test). */
export function allowPacs(home: string, ...urls: string[]): void {
  const file = join(home, 'agent.json');
  const config = JSON.parse(readFileSync(file, 'utf8')) as { pacs?: { allowed: string[] } };
  config.pacs = { allowed: [...(config.pacs?.allowed ?? []), ...urls] };
  writeFileSync(file, JSON.stringify(config, null, 2));
}
