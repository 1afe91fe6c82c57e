// Long-running children (tcpdump, ip monitor) on node:child_process: each one is ended when the agent exits,
// whatever the exit path. Not execa: it added about 8 MiB to the agent's resident memory (docs/benchmark.md).

import { spawn, type ChildProcess } from 'node:child_process';

export interface ChildExit {
  exitCode: number | null;
  signal: string | null;
  /** 'ENOENT' when the binary was not found */
  code: string | null;
}

export interface Child {
  proc: ChildProcess;
  readonly pid: number | undefined;
  /** resolves once the child has exited (or could not start), never rejects */
  done: Promise<ChildExit>;
}

const live = new Set<ChildProcess>();
let hooked = false;

function killAllOnExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of live) {
      try {
        c.kill('SIGTERM');
      } catch {
        // gone, or no permission: nothing left to do on the way out
      }
    }
  });
}

/** Spawns with stdin ignored and stdout/stderr piped as Buffers; `env` is added to the agent's environment. */
export function spawnChild(cmd: string, args: readonly string[], env: Record<string, string> = {}): Child {
  killAllOnExit();
  const proc = spawn(cmd, [...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  live.add(proc);
  const done = new Promise<ChildExit>((resolve) => {
    let settled = false;
    const finish = (e: ChildExit) => {
      if (settled) return;
      settled = true;
      live.delete(proc);
      resolve(e);
    };
    // on, not once: a failed kill() is also an 'error' event, and an unhandled one would end the agent.
    proc.on('error', (err: NodeJS.ErrnoException) => finish({ exitCode: null, signal: null, code: err.code ?? 'error' }));
    // 'close': the exit and the end of both pipes, so every byte of output has been delivered.
    proc.once('close', (exitCode, signal) => finish({ exitCode, signal, code: null }));
  });
  return {
    proc,
    get pid() {
      return proc.pid;
    },
    done,
  };
}
