import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';

const AGENT_BIN = resolve(__dirname, '../../../apps/site-agent/bin/site-agent.js');

/** A long-running site-agent process (daemon, serve) whose output can be awaited line by line. */
export interface AgentProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves when the output (stdout + stderr) matches, counting only output after `from` characters. */
  waitFor(re: RegExp, timeoutMs?: number, from?: number): Promise<RegExpExecArray>;
  stop(): Promise<number | null>;
}

export function startAgentProcess(home: string, args: string[], env: NodeJS.ProcessEnv = {}): AgentProcess {
  const child = spawn(process.execPath, [AGENT_BIN, ...args], {
    env: { ...process.env, CASAM_AGENT_HOME: home, CASAM_BACKEND: 'wasm', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    output: () => out,
    waitFor(re, timeoutMs = 60_000, from = 0) {
      return new Promise((res, rej) => {
        const check = () => {
          const m = re.exec(out.slice(from));
          if (m) {
            waiters.delete(check);
            clearTimeout(t);
            res(m);
          }
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          rej(new Error(`timed out after ${timeoutMs} ms waiting for ${re} in:\n${out.slice(-3000)}`));
        }, timeoutMs);
        waiters.add(check);
        void exited.then(() => {
          if (waiters.has(check)) {
            waiters.delete(check);
            clearTimeout(t);
            rej(new Error(`agent exited while waiting for ${re}:\n${out.slice(-3000)}`));
          }
        });
        check();
      });
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
