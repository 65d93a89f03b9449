import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const AGENT_BIN = resolve(__dirname, '../../../apps/site-agent/bin/site-agent.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `cmd <args>` to its end with stdin closed; its exit code and everything it printed. */
export function runProcess(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  return new Promise((res, rej) => {
    const c = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.once('error', rej);
    c.once('close', (code) => res({ code, stdout, stderr }));
  });
}

/** Runs `site-agent <args>` as a real process with its own home. */
export function siteAgent(home: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runProcess(process.execPath, [AGENT_BIN, ...args], {
    env: { ...process.env, CASAM_AGENT_HOME: home, ...env },
  });
}

/**
 * `train` flags for a quick test run: one Alignment Layer epoch, two VAE epochs, six images. `--force` because
 * train refuses fewer than 32 training images (τ from so few accepts other domains' images).
 */
export const QUICK_TRAIN_FLAGS = ['--force', '--epochs', '1', '--vae-epochs', '2', '--max-images', '6'];
